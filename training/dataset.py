"""Batches of staff images and token ids from rendered shards (see training/data/build.py).

Shards are read a few at a time (new ones are picked up as the renderer writes them), staves are
grouped by width so little of a batch is padding, and light augmentation (width scale, vertical
shift) is applied on the fly.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from recognition.recognizer import padded_width
from recognition.vocabulary import BOS_ID, EOS_ID, PAD_ID, encode
from training.data.augment import degrade
from training.data.shards import load_folder, read_shard


@dataclass
class Batch:
    images: torch.Tensor  # (B, 1, H, W) float, ink = 1
    widths: torch.Tensor  # (B,) int64
    tokens: torch.Tensor  # (B, T) int64: <bos> ... <eos> <pad>...
    references: list[list[str]]


def collate(images: list[np.ndarray], token_lists: list[list[str]], max_tokens: int) -> Batch:
    height = images[0].shape[0]
    # as at inference (recognizer.padded_width): blank margin, few distinct shapes for oneDNN
    width = padded_width(max(i.shape[1] for i in images))
    pixels = np.zeros((len(images), 1, height, width), np.float32)
    for k, img in enumerate(images):
        pixels[k, 0, :, : img.shape[1]] = img.astype(np.float32) / 255.0
    ids = [[BOS_ID, *encode(t)[: max_tokens - 2], EOS_ID] for t in token_lists]
    length = max(len(i) for i in ids)
    tokens = np.full((len(ids), length), PAD_ID, np.int64)
    for k, row in enumerate(ids):
        tokens[k, : len(row)] = row
    return Batch(
        torch.from_numpy(pixels),
        torch.tensor([i.shape[1] for i in images], dtype=torch.long),
        torch.from_numpy(tokens),
        token_lists,
    )


def augment(img: np.ndarray, rng: random.Random) -> np.ndarray:
    h, w = img.shape
    if rng.random() < 0.5:
        new_w = max(16, min(1280, round(w * rng.uniform(0.85, 1.15))))
        img = np.asarray(Image.fromarray(img).resize((new_w, h), Image.Resampling.BILINEAR))
    shift = rng.randint(-2, 2)
    if shift:
        img = np.roll(img, shift, axis=0)
        if shift > 0:
            img[:shift] = 0
        else:
            img[shift:] = 0
    return img


def batches_from(
    images: list[np.ndarray], tokens: list[list[str]], batch_pixels: int, max_batch: int, max_tokens: int
) -> list[Batch]:
    """Group by width: each batch holds at most `batch_pixels` padded pixels and `max_batch` staves."""
    order = sorted(range(len(images)), key=lambda i: images[i].shape[1])
    out: list[Batch] = []
    current: list[int] = []
    for i in order:
        width = images[i].shape[1]
        if current and (
            len(current) + 1 > max_batch or (len(current) + 1) * width * images[i].shape[0] > batch_pixels
        ):
            out.append(collate([images[j] for j in current], [tokens[j] for j in current], max_tokens))
            current = []
        current.append(i)
    if current:
        out.append(collate([images[j] for j in current], [tokens[j] for j in current], max_tokens))
    return out


def degrade_crop(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Scan-style degradation of a real crop (ink = 255, staff space 8 px): real staves already
    look like scans; this widens their range (blur, bleed, noise, JPEG) as for rendered pages."""
    return 255 - degrade(255 - img, rng, space=8.0, strength=rng.uniform(0.1, 0.6))


class ShardStream:
    """Endless shuffled batches over every shard in `folder` (re-listed as it grows), mixed
    with staves of real scans from `real` (training.data.scans) as `real_share` of each round."""

    def __init__(
        self,
        folder: Path,
        seed: int,
        batch_pixels: int,
        max_batch: int,
        max_tokens: int,
        group: int = 3,
        real: Path | None = None,
        real_share: float = 0.0,
    ):
        self.folder, self.rng = folder, random.Random(seed)
        self.real, self.real_share = real, real_share
        self.batch_pixels, self.max_batch, self.max_tokens, self.group = (
            batch_pixels,
            max_batch,
            max_tokens,
            group,
        )
        self.seen: dict[str, int] = {}

    def _pick_shards(self, folder: Path | None = None, count: int | None = None) -> list[Path]:
        shards = sorted((folder or self.folder).glob("shard-*.npz"))
        shards = [p for p in shards if not p.name.endswith(".tmp.npz")]
        if not shards:
            raise FileNotFoundError(
                f"no shards in {self.folder}; render some with python -m training.data.build"
            )
        # least-read shards first, so new shards are used as soon as they appear
        self.rng.shuffle(shards)
        shards.sort(key=lambda p: self.seen.get(p.name, 0))
        chosen = shards[: count or self.group]
        for p in chosen:
            self.seen[p.name] = self.seen.get(p.name, 0) + 1
        return chosen

    def __iter__(self) -> Iterator[Batch]:
        while True:
            images: list[np.ndarray] = []
            tokens: list[list[str]] = []
            for path in self._pick_shards():
                imgs, toks, _ = read_shard(path)
                images += [augment(i, self.rng) for i in imgs]
                tokens += toks
            if self.real is not None and self.real_share > 0:
                wanted = round(len(images) * self.real_share / (1 - self.real_share))
                real_images, real_tokens = self._real_staves(wanted)
                images += real_images
                tokens += real_tokens
            batches = batches_from(images, tokens, self.batch_pixels, self.max_batch, self.max_tokens)
            self.rng.shuffle(batches)
            yield from batches

    def _real_staves(self, wanted: int) -> tuple[list[np.ndarray], list[list[str]]]:
        """About `wanted` real staves, from the least-read real shards (one per movement)."""
        assert self.real is not None
        images: list[np.ndarray] = []
        tokens: list[list[str]] = []
        if not any(self.real.glob("shard-*.npz")):
            return images, tokens
        while len(images) < wanted:
            (path,) = self._pick_shards(self.real, 1)
            imgs, toks, _ = read_shard(path)
            if not imgs and all(self.seen.get(p.name, 0) > 0 for p in self.real.glob("shard-*.npz")):
                break
            for img, tok in zip(imgs, toks, strict=True):
                if self.rng.random() < 0.5:
                    img = degrade_crop(img, self.rng)
                images.append(augment(img, self.rng))
                tokens.append(tok)
        return images, tokens


def load_fixed(folder: Path, limit: int | None = None) -> tuple[list[np.ndarray], list[list[str]], list[str]]:
    return load_folder(folder, limit)
