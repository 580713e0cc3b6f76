"""Shard files: many staff crops (uint8, ink = 255) with their token sequences, in one .npz.

Crops are concatenated along the width (all have the model input height); `widths` splits them.
Optional `positions` (float32, one per token, the tokens of all staves concatenated in order):
the crop column of the glyph a token names (notehead of a `pos:` token, rest glyph of a `rest:`
token), NaN elsewhere; `read_positions` reads them (None for shards written without them).
Only numpy is needed to read them, so evaluation runs without the rendering stack or torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_shard(
    path: Path,
    samples: list[tuple[np.ndarray, list[str], str]],
    positions: list[np.ndarray] | None = None,
) -> None:
    """samples: (crop, tokens, source kind); positions: per sample, one float per token (NaN where
    the token has no position), or None for no positions field; written atomically."""
    widths = np.array([img.shape[1] for img, _, _ in samples], np.int32)
    # an empty shard records a source that gave no staves (the real-scan reader resumes by it)
    pixels = np.concatenate([img for img, _, _ in samples], axis=1) if samples else np.zeros((0, 0), np.uint8)
    tokens = np.array([" ".join(t) for _, t, _ in samples])
    kinds = np.array([k for _, _, k in samples])
    fields = {"pixels": pixels, "widths": widths, "tokens": tokens, "kinds": kinds}
    if positions is not None:
        if len(positions) != len(samples) or any(
            len(p) != len(t) for p, (_, t, _) in zip(positions, samples, strict=False)
        ):
            raise ValueError("positions need one float per token of every sample")
        flat = [np.asarray(p, np.float32) for p in positions]
        fields["positions"] = np.concatenate(flat) if flat else np.zeros(0, np.float32)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **fields)  # type: ignore[arg-type]  # (numpy stubs: allow_pickle kwarg)
    tmp.rename(path)


def read_shard(path: Path) -> tuple[list[np.ndarray], list[list[str]], list[str]]:
    with np.load(path) as z:
        pixels, widths, tokens, kinds = z["pixels"], z["widths"], z["tokens"], z["kinds"]
    offsets = np.concatenate([[0], np.cumsum(widths)])
    images = [pixels[:, offsets[i] : offsets[i + 1]] for i in range(len(widths))]
    return images, [str(t).split() for t in tokens], [str(k) for k in kinds]


def read_positions(path: Path) -> list[np.ndarray] | None:
    """Per staff of the shard, its token positions (float32, NaN where none); None for a shard
    written without positions."""
    with np.load(path) as z:
        if "positions" not in z.files:
            return None
        positions, tokens = z["positions"], z["tokens"]
    counts = [len(str(t).split()) for t in tokens]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(int)
    return [positions[offsets[i] : offsets[i + 1]] for i in range(len(counts))]


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
