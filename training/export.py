"""Export a checkpoint to ONNX: `uv run python -m training.export runs/v1/best.pt --out models/etude-omr-v1`.

Two graphs: `encoder.onnx` (staff images -> cross-attention keys/values of every decoder layer)
and `decoder_step.onnx` (one token + key/value cache -> next-token logits + grown cache). The
export is checked: greedy decoding through onnxruntime must give exactly the PyTorch greedy
tokens on validation staves, else nothing is written to the model folder.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from recognition.manifest import MANIFEST_NAME, file_sha256
from recognition.recognizer import StaffRecognizer, padded_width
from recognition.vocabulary import BOS_ID, EOS_ID, PAD_ID, TOKENS
from training.model import ModelConfig, StaffModel

OPSET = 17


class EncoderGraph(nn.Module):
    def __init__(self, model: StaffModel):
        super().__init__()
        self.model = model

    def forward(self, images: Tensor, widths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        memory, bias = self.model.encode(images, widths)
        cross_k, cross_v = self.model.cross_kv(memory)
        return cross_k, cross_v, bias


class DecoderStepGraph(nn.Module):
    def __init__(self, model: StaffModel):
        super().__init__()
        self.model = model

    def forward(self, token, position, past_k, past_v, cross_k, cross_v, cross_bias):  # type: ignore[no-untyped-def]
        return self.model.decode_step(token, position, past_k, past_v, cross_k, cross_v, cross_bias)


def load_checkpoint(path: Path) -> tuple[StaffModel, dict]:
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state["tokens"] != list(TOKENS):
        raise SystemExit(f"{path} was trained with another vocabulary than recognition/vocabulary.py")
    cfg = ModelConfig(**{**state["config"], "channels": tuple(state["config"]["channels"])})
    model = StaffModel(cfg)
    model.load_state_dict(state["model"])
    model.eval()
    return model, state


def export_graphs(model: StaffModel, folder: Path) -> None:
    """The exporter restores the wrappers' train/eval mode afterwards, so wrappers are put in eval
    mode first (a fresh module is in training mode, which would switch on dropout and batch-norm
    statistics in the model it wraps)."""
    cfg = model.cfg
    model.eval()
    images = torch.rand(2, 1, cfg.height, 256)
    widths = torch.tensor([256, 200])
    with torch.no_grad():
        torch.onnx.export(
            EncoderGraph(model).eval(),
            (images, widths),
            str(folder / "encoder.onnx"),
            input_names=["images", "widths"],
            output_names=["cross_k", "cross_v", "cross_bias"],
            dynamic_axes={
                "images": {0: "batch", 3: "width"},
                "widths": {0: "batch"},
                "cross_k": {1: "batch", 3: "columns"},
                "cross_v": {1: "batch", 3: "columns"},
                "cross_bias": {0: "batch", 3: "columns"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
        cross_k, cross_v, bias = EncoderGraph(model).eval()(images, widths)
        past_k, past_v = model.empty_cache(2)
        past_k = torch.zeros(*past_k.shape[:3], 3, past_k.shape[4])
        past_v = torch.zeros_like(past_k)
        token = torch.full((2, 1), BOS_ID, dtype=torch.long)
        position = torch.tensor([3], dtype=torch.long)
        torch.onnx.export(
            DecoderStepGraph(model).eval(),
            (token, position, past_k, past_v, cross_k, cross_v, bias),
            str(folder / "decoder_step.onnx"),
            input_names=["token", "position", "past_k", "past_v", "cross_k", "cross_v", "cross_bias"],
            output_names=["logits", "new_k", "new_v"],
            dynamic_axes={
                "token": {0: "batch"},
                "past_k": {1: "batch", 3: "steps"},
                "past_v": {1: "batch", 3: "steps"},
                "cross_k": {1: "batch", 3: "columns"},
                "cross_v": {1: "batch", 3: "columns"},
                "cross_bias": {0: "batch", 3: "columns"},
                "logits": {0: "batch"},
                "new_k": {1: "batch", 3: "steps1"},
                "new_v": {1: "batch", 3: "steps1"},
            },
            opset_version=OPSET,
            dynamo=False,
        )


def write_manifest(
    folder: Path, model: StaffModel, state: dict, version: str, metrics: dict, training: dict
) -> None:
    cfg = model.cfg
    files = {"encoder": "encoder.onnx", "decoder_step": "decoder_step.onnx"}
    manifest = {
        "name": folder.name,
        "version": version,
        "files": files,
        "sha256": {name: file_sha256(folder / name) for name in files.values()},
        "vocabulary": list(TOKENS),
        "input_height": cfg.height,
        "max_tokens": cfg.max_tokens,
        "bos_id": BOS_ID,
        "eos_id": EOS_ID,
        "pad_id": PAD_ID,
        "decoder_layers": cfg.decoder_layers,
        "heads": cfg.heads,
        "head_dim": cfg.d_model // cfg.heads,
        "metrics": metrics,
        "training": {"step": state["step"], "config": cfg.to_dict(), **training},
    }
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")


def check_same_tokens(model: StaffModel, folder: Path, images: list[np.ndarray]) -> int:
    """PyTorch greedy vs onnxruntime greedy on the same staves; returns how many agree exactly."""
    recognizer = StaffRecognizer.load(folder)
    onnx_ids, _ = recognizer.recognize_ids([img.astype(np.float32) / 255 for img in images])
    width = padded_width(max(i.shape[1] for i in images))
    batch = torch.zeros(len(images), 1, images[0].shape[0], width)
    for k, img in enumerate(images):
        batch[k, 0, :, : img.shape[1]] = torch.from_numpy(img.astype(np.float32) / 255)
    widths = torch.tensor([i.shape[1] for i in images])
    torch_ids, _ = model.greedy(batch, widths, BOS_ID, EOS_ID)
    return sum(a == b for a, b in zip(torch_ids, onnx_ids, strict=True))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--out", type=Path, default=Path("models/etude-omr-v1"))
    ap.add_argument("--version", default=time.strftime("0.1.0+%Y%m%d%H%M"))
    ap.add_argument("--val", type=Path, default=Path("data/val"))
    ap.add_argument("--check", type=int, default=16, help="validation staves decoded by both runtimes")
    ap.add_argument("--metrics", type=Path, help="JSON file of evaluation figures to record in the manifest")
    ap.add_argument("--training", type=Path, help="JSON file describing the training run, for the manifest")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    model, state = load_checkpoint(a.checkpoint)
    metrics = json.loads(a.metrics.read_text()) if a.metrics else {"validation": state.get("metrics", {})}
    training = json.loads(a.training.read_text()) if a.training else {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / a.out.name
        folder.mkdir()
        export_graphs(model, folder)
        write_manifest(folder, model, state, a.version, metrics, training)
        from training.dataset import load_fixed

        images, _, _ = load_fixed(a.val, limit=a.check)
        agree = check_same_tokens(model, folder, images)
        print(json.dumps({"checked": len(images), "identical_greedy_outputs": agree}), flush=True)
        if agree != len(images):
            raise SystemExit("ONNX greedy output differs from PyTorch; model folder left unchanged")
        a.out.mkdir(parents=True, exist_ok=True)
        for file in folder.iterdir():
            shutil.copy2(file, a.out / file.name)
    print(json.dumps({"exported": str(a.out), "files": sorted(p.name for p in a.out.iterdir())}))


if __name__ == "__main__":
    main()
