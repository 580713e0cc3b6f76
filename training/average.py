"""Interpolate two models of one architecture: `python -m training.average A B --weight 0.5 --out C.pt`.

Fine-tuning on real scans moves the model away from what it read well before (engraved
triplets, for one). Averaging the fine-tuned weights with the starting ones (weight-space
ensembling, as WiSE-FT does for fine-tuned models) keeps much of both; `--weight` is the share
of B. A and B are checkpoints or exported model folders (read back as `train.py --init` does).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from training.dataset import load_fixed
from training.train import initial_model


def average(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], weight: float) -> dict[str, torch.Tensor]:
    """(1 - weight) * a + weight * b for float tensors; counters (batch-norm steps) from b."""
    if a.keys() != b.keys():
        raise SystemExit("the two models do not have the same parameters")
    return {
        name: (1 - weight) * a[name] + weight * b[name] if b[name].is_floating_point() else b[name]
        for name in b
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--weight", type=float, default=0.5, help="share of B")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--val", type=Path, default=Path("data/val"), help="calibration staves for folders")
    a = ap.parse_args(argv)
    calibration = load_fixed(a.val, 64)[0]
    first, second = initial_model(a.a, calibration), initial_model(a.b, calibration)
    state = torch.load(a.b, map_location="cpu", weights_only=False) if a.b.is_file() else {}
    merged = average(first.state_dict(), second.state_dict(), a.weight)
    torch.save(
        {
            **{k: v for k, v in state.items() if k != "optimizer"},
            "model": merged,
            "config": second.cfg.to_dict(),
            "tokens": state.get("tokens"),
            "averaged": {"a": str(a.a), "b": str(a.b), "weight": a.weight},
        },
        a.out,
    )
    print(f"{a.out}: {1 - a.weight:g} x {a.a} + {a.weight:g} x {a.b}")


if __name__ == "__main__":
    main()
