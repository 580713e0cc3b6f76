"""Shard files: many staff crops (uint8, ink = 255) with their token sequences, in one .npz.

Crops are concatenated along the width (all have the model input height); `widths` splits them.
Only numpy is needed to read them, so evaluation runs without the rendering stack or torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_shard(path: Path, samples: list[tuple[np.ndarray, list[str], str]]) -> None:
    """samples: (crop, tokens, source kind); written atomically."""
    widths = np.array([img.shape[1] for img, _, _ in samples], np.int32)
    # an empty shard records a source that gave no staves (the real-scan reader resumes by it)
    pixels = np.concatenate([img for img, _, _ in samples], axis=1) if samples else np.zeros((0, 0), np.uint8)
    tokens = np.array([" ".join(t) for _, t, _ in samples])
    kinds = np.array([k for _, _, k in samples])
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, pixels=pixels, widths=widths, tokens=tokens, kinds=kinds)
    tmp.rename(path)


def read_shard(path: Path) -> tuple[list[np.ndarray], list[list[str]], list[str]]:
    with np.load(path) as z:
        pixels, widths, tokens, kinds = z["pixels"], z["widths"], z["tokens"], z["kinds"]
    offsets = np.concatenate([[0], np.cumsum(widths)])
    images = [pixels[:, offsets[i] : offsets[i + 1]] for i in range(len(widths))]
    return images, [str(t).split() for t in tokens], [str(k) for k in kinds]


def load_folder(
    folder: Path, limit: int | None = None
) -> tuple[list[np.ndarray], list[list[str]], list[str]]:
    """Every staff of the shards in `folder`, in a fixed order (validation, evaluation)."""
    images: list[np.ndarray] = []
    tokens: list[list[str]] = []
    kinds: list[str] = []
    for path in sorted(folder.glob("shard-*.npz")):
        if path.name.endswith(".tmp.npz"):
            continue
        i, t, k = read_shard(path)
        images += i
        tokens += t
        kinds += k
    if limit is not None:
        images, tokens, kinds = images[:limit], tokens[:limit], kinds[:limit]
    return images, tokens, kinds
