"""Train the staff recogniser: `uv run python -m training.train --run runs/v1`.

Resumable: `<run>/last.pt` (model, optimiser, step) is written at every validation and picked up
on restart; `<run>/best.pt` keeps the checkpoint with the lowest validation symbol error rate.
Shards rendered while training runs are used as they appear. See training/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from recognition.vocabulary import BOS_ID, EOS_ID, PAD_ID, TOKENS, decode
from training.dataset import Batch, ShardStream, batches_from, load_fixed
from training.evaluation.ser import symbol_error_rate
from training.export import load_checkpoint
from training.from_onnx import load_exported
from training.model import ModelConfig, StaffModel, count_parameters


def lr_at(step: int, base: float, warmup: int, total: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def loss_of(model: StaffModel, batch: Batch, device: torch.device, smoothing: float) -> torch.Tensor:
    images = batch.images.to(device)
    if device.type == "cpu":
        images = images.contiguous(memory_format=torch.channels_last)
    tokens = batch.tokens.to(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        logits = model(images, batch.widths.to(device), tokens[:, :-1])
    return F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        tokens[:, 1:].reshape(-1),
        ignore_index=PAD_ID,
        label_smoothing=smoothing,
    )


@torch.no_grad()
def validate(
    model: StaffModel, loss_batches: list[Batch], ser_batches: list[Batch], device: torch.device
) -> dict:
    model.eval()
    losses = [float(loss_of(model, b, device, 0.0)) for b in loss_batches]
    pairs = []
    for b in ser_batches:
        longest = max(len(r) for r in b.references)
        max_len = min(model.cfg.max_tokens - 1, int(longest * 1.3) + 10)
        ids, _ = model.greedy(b.images.to(device), b.widths.to(device), BOS_ID, EOS_ID, max_len=max_len)
        pairs += [(ref, decode(hyp)) for ref, hyp in zip(b.references, ids, strict=True)]
    model.train()
    return {"val_loss": float(np.mean(losses)), "val_ser": symbol_error_rate(pairs)}


def save(path: Path, model: StaffModel, optimizer: torch.optim.Optimizer, step: int, metrics: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "config": model.cfg.to_dict(),
            "tokens": list(TOKENS),
            "metrics": metrics,
        },
        tmp,
    )
    os.replace(tmp, path)


def initial_model(source: Path, calibration: list[np.ndarray]) -> StaffModel:
    """Weights to start a new run from: a checkpoint, or an exported model folder (whose batch
    norms are re-derived on `calibration` staves, see training/from_onnx.py)."""
    if source.is_dir():
        width = max(img.shape[1] for img in calibration)
        images = torch.zeros(len(calibration), 1, calibration[0].shape[0], width)
        for k, img in enumerate(calibration):
            images[k, 0, :, : img.shape[1]] = torch.from_numpy(img.astype(np.float32) / 255)
        return load_exported(source, images)
    return load_checkpoint(source)[0]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, default=Path("runs/v1"))
    ap.add_argument("--data", type=Path, default=Path("data/shards"))
    ap.add_argument("--val", type=Path, default=Path("data/val"))
    ap.add_argument("--real", type=Path, default=None, help="real-scan staves (training.data.scans)")
    ap.add_argument("--real-share", type=float, default=0.4, help="share of real staves in each round")
    ap.add_argument("--keep-every", type=int, default=500, help="also keep step-N.pt every N steps")
    ap.add_argument("--steps", type=int, default=12000, help="length of the learning-rate schedule")
    ap.add_argument("--lr", type=float, default=7e-4)
    ap.add_argument("--warmup", type=int, default=400)
    ap.add_argument("--batch-pixels", type=int, default=16 * 96 * 700)
    ap.add_argument("--max-batch", type=int, default=48)
    ap.add_argument("--val-every", type=int, default=250)
    ap.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    ap.add_argument("--size", choices=["small", "base"], default="small")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument(
        "--init",
        type=Path,
        help="start a new run from these weights: an exported model folder or a checkpoint (.pt); "
        "ignored once the run has its own checkpoint",
    )
    a = ap.parse_args(argv)

    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    a.run.mkdir(parents=True, exist_ok=True)
    last = a.run / "last.pt"
    state = torch.load(last, map_location="cpu", weights_only=False) if last.exists() else None
    if state is not None:
        cfg = ModelConfig(**{**state["config"], "channels": tuple(state["config"]["channels"])})
        if state["tokens"] != list(TOKENS):
            raise SystemExit("the vocabulary changed since this run started; use a new --run folder")
    val_images, val_tokens, _ = load_fixed(a.val)
    initial = None if state is not None or a.init is None else initial_model(a.init, val_images[:64])
    if initial is not None:
        cfg = initial.cfg
    elif state is None and a.size == "small":
        cfg = ModelConfig(len(TOKENS), d_model=192, ff=768, channels=(24, 48, 96, 160, 192))
    elif state is None:
        cfg = ModelConfig(len(TOKENS))
    model = (initial or StaffModel(cfg)).to(device)
    if device.type == "cpu":
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    step = 0
    best = math.inf
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        best_path = a.run / "best.pt"
        if best_path.exists():
            best = torch.load(best_path, map_location="cpu", weights_only=False)["metrics"]["val_ser"]
    print(
        json.dumps(
            {
                "event": "start",
                "step": step,
                "params": count_parameters(model),
                "config": cfg.to_dict(),
                "device": str(device),
                "threads": a.threads,
                "init": str(a.init) if initial is not None else None,
            }
        ),
        flush=True,
    )

    loss_batches = batches_from(
        val_images[:192], val_tokens[:192], a.batch_pixels, a.max_batch, cfg.max_tokens
    )
    ser_batches = batches_from(val_images[192:288], val_tokens[192:288], a.batch_pixels, 32, cfg.max_tokens)
    stream = iter(
        ShardStream(
            a.data,
            seed=step,
            batch_pixels=a.batch_pixels,
            max_batch=a.max_batch,
            max_tokens=cfg.max_tokens,
            real=a.real,
            real_share=a.real_share if a.real is not None else 0.0,
        )
    )
    log = (a.run / "log.jsonl").open("a")
    model.train()
    window: list[float] = []
    started = time.time()
    seen = 0
    while True:
        batch = next(stream)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, a.lr, a.warmup, a.steps)
        loss = loss_of(model, batch, device, smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        seen += batch.images.shape[0]
        window.append(loss.item())
        if step % 50 == 0:
            row = {
                "step": step,
                "loss": round(float(np.mean(window)), 4),
                "lr": optimizer.param_groups[0]["lr"],
                "staves_per_s": round(seen / (time.time() - started), 2),
            }
            window = []
            print(json.dumps(row), flush=True)
            log.write(json.dumps(row) + "\n")
            log.flush()
        if step % a.val_every == 0:
            metrics = {
                "step": step,
                **validate(model, loss_batches, ser_batches, device),
                "elapsed_s": round(time.time() - started),
            }
            print(json.dumps(metrics), flush=True)
            log.write(json.dumps(metrics) + "\n")
            log.flush()
            save(last, model, optimizer, step, metrics)
            if a.keep_every and step % a.keep_every == 0:
                save(a.run / f"step-{step}.pt", model, optimizer, step, metrics)
            if metrics["val_ser"] < best:
                best = metrics["val_ser"]
                save(a.run / "best.pt", model, optimizer, step, metrics)


if __name__ == "__main__":
    main()
