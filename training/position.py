"""Where each note is: a pointer head that says which column of the staff a token was read at.

The recogniser already looks at the notehead it names: the decoder's cross-attention. The head
turns that into a position. From the decoder's final state at the step that emits a token, it
forms one query per decoder layer and attention head and scores it against that layer's
cross-attention keys (one per encoder column, 8 image pixels wide); a learned mix of these
scores, through a softmax over columns, is a distribution over where the token sits, and the
expectation around its most probable column is the position in crop pixels.
Every input is already in the ONNX decoder step, so serving gets positions at no extra pass.

The head is trained on its own, on top of a frozen recogniser (`python -m training.position
train`): the recogniser may be a weight-space average of two runs, and the head must fit the
weights that are shipped. Labels are the notehead and rest centres Verovio drew
(`training.data.build` writes them into the shards as `positions`).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from recognition.manifest import MANIFEST_NAME, file_sha256
from recognition.recognizer import POSITION_OUTPUT
from training.data.shards import read_positions, read_shard
from training.dataset import Batch, collate
from training.model import StaffModel

COLUMN_PX = 8  # encoder column width in crop pixels (the backbone's horizontal stride)
WINDOW = 1  # columns either side of the most probable one that the position is averaged over
STAFF_SPACE_PX = 8  # the crop convention (recognition/crop.py) at input height 96


class PositionHead(nn.Module):
    """Scores every encoder column for the token being emitted, from each decoder layer's
    cross-attention keys (a learned mix of the layers' and heads' scores)."""

    def __init__(self, d_model: int, heads: int, layers: int):
        super().__init__()
        self.heads, self.layers, self.head_dim = heads, layers, d_model // heads
        self.query = nn.Linear(d_model, layers * d_model)
        nn.init.zeros_(self.query.bias)
        self.mix = nn.Parameter(torch.full((layers, heads), 1.0 / (layers * heads)))

    def column_logits(self, state: Tensor, cross_k: Tensor, cross_bias: Tensor) -> Tensor:
        """state (B, T, d) normalised decoder output; cross_k (L, B, H, S, dh), every decoder
        layer's keys; cross_bias (B, 1, 1, S) -> (B, T, S) scores over encoder columns."""
        b, t, _ = state.shape
        q = self.query(state).view(b, t, self.layers, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        scores = torch.matmul(q, cross_k.transpose(-1, -2)) * (
            1.0 / math.sqrt(self.head_dim)
        )  # (L, B, H, T, S)
        return (scores * self.mix[:, None, :, None, None]).sum(dim=(0, 2)) + cross_bias[:, 0]

    def forward(self, state: Tensor, cross_k: Tensor, cross_bias: Tensor) -> Tensor:
        """-> (B, T) position in crop pixels: the expected column within one column of the most
        probable one (column centres at 8 s + 4). The window keeps a second, weaker place the
        head also considered (the notehead before, a chord's other side) from pulling the
        position between the two."""
        return window_position(torch.softmax(self.column_logits(state, cross_k, cross_bias), dim=-1))


def window_position(p: Tensor) -> Tensor:
    """(..., S) column probabilities -> (...) pixels: expectation over the argmax ± WINDOW."""
    columns = torch.arange(p.shape[-1], device=p.device, dtype=p.dtype)
    best = p.argmax(dim=-1, keepdim=True).to(p.dtype)
    near = p * ((columns - best).abs() <= WINDOW).to(p.dtype)
    return (near * columns).sum(dim=-1) / near.sum(dim=-1) * COLUMN_PX + COLUMN_PX / 2


def position_loss(logits: Tensor, target_px: Tensor) -> Tensor:
    """Soft cross-entropy towards the two columns around each target (split so that their
    expectation is the target) plus the L1 error of the expectation, in columns. logits (N, S),
    target_px (N,) with finite values only."""
    s = logits.shape[-1]
    column = ((target_px - COLUMN_PX / 2) / COLUMN_PX).clamp(0, s - 1)
    low = column.floor().long().clamp(max=s - 1)
    high = (low + 1).clamp(max=s - 1)
    frac = column - low.to(column.dtype)
    log_p = torch.log_softmax(logits, dim=-1)
    picked = (1 - frac) * log_p.gather(1, low[:, None])[:, 0] + frac * log_p.gather(1, high[:, None])[:, 0]
    expected = (log_p.exp() * torch.arange(s, device=logits.device, dtype=logits.dtype)).sum(-1)
    return -picked.mean() + F.smooth_l1_loss(expected, column)


# --- training on a frozen recogniser ------------------------------------------------------------


def _staves_with_positions(folder: Path) -> tuple[list[np.ndarray], list[list[str]], list[np.ndarray]]:
    """Every staff of the shards in `folder` that has at least one labelled position."""
    images: list[np.ndarray] = []
    tokens: list[list[str]] = []
    positions: list[np.ndarray] = []
    for path in sorted(folder.glob("shard-*.npz")):
        if path.name.endswith(".tmp.npz"):
            continue
        labels = read_positions(path)
        if labels is None:
            continue
        imgs, toks, _ = read_shard(path)
        for img, tok, pos in zip(imgs, toks, labels, strict=True):
            if np.isfinite(pos).any():
                images.append(img)
                tokens.append(tok)
                positions.append(pos)
    return images, tokens, positions


def _rescaled(img: np.ndarray, pos: np.ndarray, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """Width-scale augmentation (as training.dataset.augment) that moves the labels with the image."""
    h, w = img.shape
    new_w = max(16, min(1280, round(w * rng.uniform(0.85, 1.15))))
    out = np.asarray(Image.fromarray(img).resize((new_w, h), Image.Resampling.BILINEAR))
    return out, pos * (new_w / w)


def _batch(
    images: list[np.ndarray], tokens: list[list[str]], positions: list[np.ndarray], max_tokens: int
) -> tuple[Batch, Tensor]:
    """A training batch and its targets (B, T-1) aligned with the predicted tokens (NaN: none)."""
    batch = collate(images, tokens, max_tokens)
    targets = torch.full((len(images), batch.tokens.shape[1] - 1), float("nan"))
    for k, pos in enumerate(positions):
        n = min(len(pos), targets.shape[1])
        targets[k, :n] = torch.from_numpy(np.asarray(pos[:n], np.float32))
    return batch, targets


def head_outputs(model: StaffModel, head: PositionHead, batch: Batch) -> tuple[Tensor, Tensor]:
    """Column logits (B, T-1, S) and positions in pixels (B, T-1) for every predicted token,
    the recogniser itself frozen (no gradient)."""
    with torch.no_grad():
        memory, bias = model.encode(batch.images, batch.widths)
        cross_k, cross_v = model.cross_kv(memory)
        states = model.decode_states(batch.tokens[:, :-1], cross_k, cross_v, bias)
    logits = head.column_logits(states, cross_k, bias)
    return logits, window_position(torch.softmax(logits.detach(), dim=-1))


def load_recogniser(source: Path, calibration: list[np.ndarray]) -> StaffModel:
    from training.train import initial_model

    model = initial_model(source, calibration)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def train_head(a: argparse.Namespace) -> None:
    torch.set_num_threads(a.threads)
    rng = random.Random(a.seed)
    images, tokens, positions = _staves_with_positions(a.data)
    val_images, val_tokens, val_positions = _staves_with_positions(a.val)
    if not images or not val_images:
        raise SystemExit(f"no staves with positions in {a.data} or {a.val}: render with training.data.build")
    model = load_recogniser(a.model, val_images[:64])
    head = PositionHead(model.cfg.d_model, model.cfg.heads, model.cfg.decoder_layers)
    optimizer = torch.optim.AdamW(head.parameters(), lr=a.lr, weight_decay=0.0)
    order = list(range(len(images)))
    started = time.time()
    for step in range(1, a.steps + 1):
        picked = rng.sample(order, min(a.batch, len(order)))
        picked.sort(key=lambda i: images[i].shape[1])  # similar widths pad less
        pairs = [
            _rescaled(images[i], positions[i], rng) if rng.random() < 0.5 else (images[i], positions[i])
            for i in picked
        ]
        batch, targets = _batch(
            [p[0] for p in pairs], [tokens[i] for i in picked], [p[1] for p in pairs], model.cfg.max_tokens
        )
        for group in optimizer.param_groups:
            group["lr"] = a.lr * 0.5 * (1 + math.cos(math.pi * step / a.steps))
        logits, _ = head_outputs(model, head, batch)
        mask = torch.isfinite(targets)
        loss = position_loss(logits[mask], targets[mask])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 25 == 0 or step == a.steps:
            print(
                json.dumps(
                    {"step": step, "loss": round(float(loss.detach()), 4), "s": round(time.time() - started)}
                ),
                flush=True,
            )
    errors = teacher_forced_errors(model, head, val_images, val_tokens, val_positions)
    print(json.dumps({"event": "done", **error_figures(errors)}), flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "head": head.state_dict(),
            "d_model": model.cfg.d_model,
            "layers": model.cfg.decoder_layers,
            "heads": model.cfg.heads,
            "recogniser": str(a.model),
            "steps": a.steps,
            "staves": len(images),
            "figures": error_figures(errors),
        },
        a.out,
    )


@torch.no_grad()
def teacher_forced_errors(
    model: StaffModel,
    head: PositionHead,
    images: list[np.ndarray],
    tokens: list[list[str]],
    positions: list[np.ndarray],
) -> np.ndarray:
    """|predicted - labelled| in staff spaces (8 crop pixels) for every labelled token, reading
    the true tokens (teacher forcing)."""
    out = []
    for start in range(0, len(images), 16):
        chunk = slice(start, start + 16)
        batch, targets = _batch(images[chunk], tokens[chunk], positions[chunk], model.cfg.max_tokens)
        _, predicted = head_outputs(model, head, batch)
        mask = torch.isfinite(targets)
        out.append((predicted[mask] - targets[mask]).abs().numpy() / STAFF_SPACE_PX)
    return np.concatenate(out) if out else np.zeros(0)


def error_figures(errors: np.ndarray) -> dict[str, float]:
    """Median, mean and 95th percentile of horizontal errors (staff spaces), and how many."""
    if not len(errors):
        return {"count": 0}
    return {
        "count": len(errors),
        "median_spaces": round(float(np.median(errors)), 3),
        "mean_spaces": round(float(np.mean(errors)), 3),
        "p95_spaces": round(float(np.percentile(errors, 95)), 3),
    }


# --- into the shipped decoder step ------------------------------------------------------------


class _HeadGraph(nn.Module):
    def __init__(self, head: PositionHead):
        super().__init__()
        self.head = head

    def forward(self, state: Tensor, cross_k: Tensor, cross_bias: Tensor) -> Tensor:
        return self.head(state, cross_k, cross_bias)[:, 0]


def _final_state(graph: onnx.GraphProto) -> str:
    """The decoder step's normalised output, which the vocabulary head reads: the output of the
    layer norm whose weight is `model.dec_ln.weight`."""
    for node in graph.node:
        if node.op_type == "LayerNormalization" and "model.dec_ln.weight" in node.input:
            return str(node.output[0])
    raise ValueError("the decoder step has no final layer norm (model.dec_ln)")


def graft(folder: Path, head: PositionHead, facts: dict[str, Any]) -> None:
    """Add a `position` output (B,) to the decoder step of model folder `folder`, computed by
    `head` from tensors the graph already has; every other output is left exactly as it was."""
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    path = folder / manifest["files"]["decoder_step"]
    model = onnx.load(str(path))
    graph = model.graph
    if any(o.name == POSITION_OUTPUT for o in graph.output):
        raise ValueError(f"{path} already has a {POSITION_OUTPUT} output")
    by_name = {i.name: i for i in graph.input}
    state_name = _final_state(graph)
    layers, heads, head_dim = manifest["decoder_layers"], manifest["heads"], manifest["head_dim"]
    with tempfile.TemporaryDirectory() as tmp:
        head_path = Path(tmp) / "head.onnx"
        torch.onnx.export(
            _HeadGraph(head).eval(),
            (
                torch.zeros(2, 1, heads * head_dim),
                torch.zeros(layers, 2, heads, 5, head_dim),
                torch.zeros(2, 1, 1, 5),
            ),
            str(head_path),
            input_names=["state", "cross_k", "cross_bias"],
            output_names=[POSITION_OUTPUT],
            dynamic_axes={
                "state": {0: "batch"},
                "cross_k": {1: "batch", 3: "columns"},
                "cross_bias": {0: "batch", 3: "columns"},
                POSITION_OUTPUT: {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
        part = onnx.load(str(head_path)).graph
    keep = {
        "cross_k": "cross_k",
        "cross_bias": "cross_bias",
        "state": state_name,
        POSITION_OUTPUT: POSITION_OUTPUT,
    }

    def renamed(name: str) -> str:
        return keep.get(name, f"position_head/{name}") if name else name

    for init in part.initializer:
        init.name = renamed(init.name)
        graph.initializer.append(init)
    for node in part.node:
        node.name = renamed(node.name)
        node.input[:] = [renamed(n) for n in node.input]
        node.output[:] = [renamed(n) for n in node.output]
        graph.node.append(node)
    assert "cross_k" in by_name and "cross_bias" in by_name
    graph.output.append(part.output[0])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    manifest["sha256"][path.name] = file_sha256(path)
    manifest["positions"] = {"output": POSITION_OUTPUT, "unit": "crop pixels", **facts}
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")


def load_head(path: Path) -> tuple[PositionHead, dict[str, Any]]:
    saved = torch.load(path, map_location="cpu", weights_only=False)
    head = PositionHead(saved["d_model"], saved["heads"], saved["layers"])
    head.load_state_dict(saved["head"])
    head.eval()
    facts = {k: v for k, v in saved.items() if k not in ("head", "d_model", "heads", "layers")}
    return head, facts


def head_from_model(folder: Path) -> tuple[PositionHead, dict[str, Any]]:
    """The head grafted into model folder `folder`, read back from its decoder step (so that a
    new recogniser can take the shipped head without `runs/`): the query layer's weight and bias
    and the layer/head mix are the graph's three `position_head/` initializers."""
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    if "positions" not in manifest:
        raise ValueError(f"{folder} has no position head")
    model = onnx.load(str(folder / manifest["files"]["decoder_step"]))
    arrays = {
        i.name: onnx.numpy_helper.to_array(i)
        for i in model.graph.initializer
        if i.name.startswith("position_head/")
    }
    layers, heads, head_dim = manifest["decoder_layers"], manifest["heads"], manifest["head_dim"]
    head = PositionHead(heads * head_dim, heads, layers)
    shapes = {a.shape: a for a in arrays.values()}
    with torch.no_grad():
        query = shapes[(heads * head_dim, layers * heads * head_dim)]  # stored as x @ W
        head.query.weight.copy_(torch.from_numpy(query.T.copy()))
        head.query.bias.copy_(torch.from_numpy(arrays["position_head/head.query.bias"]))
        head.mix.copy_(torch.from_numpy(shapes[(layers, 1, heads, 1, 1)].reshape(layers, heads)))
    head.eval()
    facts = {k: v for k, v in manifest["positions"].items() if k not in ("output", "unit")}
    return head, facts


# --- measured through the serving path -----------------------------------------------------------


def _placed(tokens: list[str], xs: list[float]) -> tuple[list[str], list[float]]:
    """The tokens that name a glyph (notes' `pos:`, rests' `rest:`) with their columns."""
    keep = [i for i, t in enumerate(tokens) if t.startswith(("pos:", "rest:"))]
    return [tokens[i] for i in keep], [xs[i] for i in keep]


def served_errors(model_dir: Path, folder: Path, limit: int | None = None) -> tuple[np.ndarray, float]:
    """Read the labelled staves of `folder` as serving does (onnxruntime, greedy) and compare
    each read note/rest's column with the label of the true token it aligns with (same token,
    matched in order by difflib); errors in staff spaces, and the share of read note/rest tokens
    that came with a finite column."""
    from difflib import SequenceMatcher

    from recognition.recognizer import StaffRecognizer

    recognizer = StaffRecognizer.load(model_dir, threads=1, reread_beams=0)
    if not recognizer.has_positions:
        raise SystemExit(f"{model_dir}: the decoder step has no {POSITION_OUTPUT} output (graft a head)")
    images, tokens, positions = _staves_with_positions(folder)
    if limit is not None:
        images, tokens, positions = images[:limit], tokens[:limit], positions[:limit]
    errors: list[float] = []
    read = finite = 0
    for start in range(0, len(images), 8):
        crops = [img.astype(np.float32) / 255.0 for img in images[start : start + 8]]
        for reading, truth, labels in zip(
            recognizer.recognize(crops), tokens[start : start + 8], positions[start : start + 8], strict=True
        ):
            got, got_x = _placed(reading.tokens, reading.token_x or [math.nan] * len(reading.tokens))
            want, want_x = _placed(truth, [float(v) for v in labels])
            read += len(got)
            finite += sum(1 for x in got_x if math.isfinite(x))
            for block in SequenceMatcher(a=got, b=want, autojunk=False).get_matching_blocks():
                for k in range(block.size):
                    a, b = got_x[block.a + k], want_x[block.b + k]
                    if math.isfinite(a) and math.isfinite(b):
                        errors.append(abs(a - b) / STAFF_SPACE_PX)
    return np.array(errors), finite / max(1, read)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the head on a frozen recogniser")
    t.add_argument(
        "--model", type=Path, default=Path("models/etude-omr-v1"), help="exported folder or checkpoint"
    )
    t.add_argument("--data", type=Path, default=Path("data/positions-train"))
    t.add_argument("--val", type=Path, default=Path("data/positions"))
    t.add_argument("--out", type=Path, default=Path("runs/position/head.pt"))
    t.add_argument("--steps", type=int, default=600)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=1)
    g = sub.add_parser("graft", help="add the trained head's position output to a model folder")
    g.add_argument("--model", type=Path, default=Path("models/etude-omr-v1"))
    g.add_argument("--head", type=Path, default=Path("runs/position/head.pt"))
    g.add_argument("--head-from", type=Path, help="take the head grafted into this model folder instead")
    e = sub.add_parser("evaluate", help="horizontal error through onnxruntime on labelled staves")
    e.add_argument("--model", type=Path, default=Path("models/etude-omr-v1"))
    e.add_argument("--data", type=Path, default=Path("data/positions"))
    e.add_argument("--limit", type=int, default=None)
    a = ap.parse_args(argv)
    if a.command == "evaluate":
        errors, coverage = served_errors(a.model, a.data, a.limit)
        print(json.dumps({"model": str(a.model), "coverage": round(coverage, 4), **error_figures(errors)}))
    elif a.command == "train":
        train_head(a)
    elif a.command == "graft":
        head, facts = head_from_model(a.head_from) if a.head_from else load_head(a.head)
        graft(a.model, head, facts)
        print(json.dumps({"grafted": str(a.model), **facts}))


if __name__ == "__main__":
    main()
