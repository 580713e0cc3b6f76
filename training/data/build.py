"""Render training shards: `python -m training.data.build --out data/shards --shards 40`.

Each shard is an .npz of N staff crops (uint8, ink = 255, height = the model input height,
concatenated along the width) with their token sequences. Rendering is resumable: shards that
exist are skipped (each shard is seeded by its index). Sources per shard: synthetic pieces,
Mozart training movements (never the dev-set movements), and the music21 corpus.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np

from recognition.crop import DEFAULT_HEIGHT, crop_staff
from recognition.vocabulary import VocabularyError, symbols_to_tokens
from training.data.augment import degrade, rotate
from training.data.musicxml import piece_to_musicxml
from training.data.render import StaffGeometry, engrave
from training.data.score import Piece, staff_symbols
from training.data.shards import write_shard
from training.shared import shared_dir

MAX_WIDTH = 1280


def _rotated(y: float, x: float, cx: float, cy: float, degrees: float) -> float:
    """Row of page point (x, y) after PIL's counter-clockwise rotation about (cx, cy)."""
    a = math.radians(degrees)
    return cy - (x - cx) * math.sin(a) + (y - cy) * math.cos(a)


def render_piece(
    piece: Piece, rng: random.Random, height: int, strength: float
) -> list[tuple[np.ndarray, list[str]]]:
    """Crops and tokens of every staff of one engraved piece."""
    labels = [symbols_to_tokens(staff_symbols(piece, s)) for s in range(len(piece.staves))]
    space_px = rng.uniform(9, 26)
    decorations = rng.choice([0.0, 0.5, 1.0, 2.0])
    engraving = engrave(
        piece_to_musicxml(piece, rng=rng, decorations=decorations), rng, len(piece.staves), space_px
    )
    page = engraving.page
    degrees = rng.uniform(-0.4, 0.4) if rng.random() < 0.4 * strength else 0.0
    if degrees:
        page = rotate(page, degrees)
    page = degrade(page, rng, engraving.space_px, strength)
    out = []
    cy, cx = page.shape[0] / 2, page.shape[1] / 2
    for geometry, tokens in zip(engraving.staves, labels, strict=True):
        space = (geometry.bottom - geometry.top) / 4
        mid = (geometry.left + geometry.right) / 2
        top = _rotated(geometry.top, mid, cx, cy, degrees) + rng.gauss(0, 0.12) * space
        bottom = _rotated(geometry.bottom, mid, cx, cy, degrees) + rng.gauss(0, 0.12) * space
        left = geometry.left + rng.uniform(-1.0, 1.0) * space
        right = geometry.right + rng.uniform(-1.0, 0.5) * space
        if not numbers_visible(geometry, top, bottom, space, cy, degrees, mid, cx):
            continue  # its label would name a tuplet whose number the crop does not show
        crop = crop_staff(page, top, bottom, left, right, height=height, max_width=MAX_WIDTH)
        out.append(((crop * 255).round().astype(np.uint8), tokens))
    return out


# The crop shows four staff spaces above the top line and below the bottom line (crop_staff);
# a tuplet number's glyph stands about 1.5 spaces above its baseline. A number counts as shown
# when some of it is inside the crop (partly cut numbers are still read by people).
NUMBER_HEIGHT_SPACES = 1.5


def numbers_visible(
    geometry: StaffGeometry,
    top: float,
    bottom: float,
    space: float,
    cy: float,
    degrees: float,
    mid: float,
    cx: float,
) -> bool:
    """Whether every tuplet number of the staff shows in its crop (top/bottom: the crop's
    staff lines on the rotated page)."""
    for y in geometry.tuplet_number_ys:
        row = _rotated(y, mid, cx, cy, degrees)
        if row < top - 4 * space or row - NUMBER_HEIGHT_SPACES * space > bottom + 4 * space:
            return False
    return True


class Sources:
    """Chooses the music for each piece: synthetic, Mozart (training movements), music21."""

    def __init__(self, corpora: Path | None, mix: dict[str, float]):
        from training.data.corpus import music21_sources
        from training.data.devset import training_movements

        self.mix = mix
        self.mozart = training_movements(corpora) if corpora is not None and corpora.exists() else []
        self.music21 = music21_sources()
        self.queue: list[tuple[str, Piece]] = []

    def next(self, rng: random.Random) -> tuple[str, Piece]:
        from training.data.corpus import load_score, score_pieces
        from training.data.synthetic import random_piece

        kinds = [k for k in self.mix if k == "synthetic" or getattr(self, k)]
        kind = rng.choices(kinds, [self.mix[k] for k in kinds])[0]
        if kind == "synthetic":
            return kind, random_piece(rng)
        pending = [p for k, p in self.queue if k == kind]
        if not pending:
            path = rng.choice(getattr(self, kind))
            try:
                score = load_score(path)
                pieces = score_pieces(score, rng, grand=kind == "mozart" and rng.random() < 0.7)
            except Exception:  # a corpus file music21 cannot read: take another source
                return self.next(rng)
            rng.shuffle(pieces)
            self.queue += [(kind, p) for p in pieces[:12]]  # a few snippets per file, for variety
            if not pieces:
                return self.next(rng)
        for i, (k, p) in enumerate(self.queue):
            if k == kind:
                del self.queue[i]
                return kind, p
        raise AssertionError("unreachable")


def build_shard(index: int, size: int, sources: Sources, height: int, clean_fraction: float) -> list:
    rng = random.Random(1_000_003 * index + 17)
    samples: list[tuple[np.ndarray, list[str], str]] = []
    while len(samples) < size:
        kind, piece = sources.next(rng)
        strength = 0.0 if rng.random() < clean_fraction else rng.uniform(0.2, 1.0)
        try:
            crops = render_piece(piece, rng, height, strength)
        except (VocabularyError, ValueError, KeyError, ZeroDivisionError):
            continue
        for img, tokens in crops:
            if img.shape[1] < MAX_WIDTH and len(tokens) < 500:
                samples.append((img, tokens, kind))
    return samples[:size]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("data/shards"))
    ap.add_argument("--shards", type=int, default=40)
    ap.add_argument("--first", type=int, default=0, help="index of the first shard")
    ap.add_argument("--size", type=int, default=256, help="staves per shard")
    ap.add_argument("--height", type=int, default=DEFAULT_HEIGHT)
    ap.add_argument(
        "--corpora",
        type=Path,
        default=None,
        help="default: corpora/ of the shared folder (training/shared.py)",
    )
    ap.add_argument("--mix", default="synthetic=0.4,mozart=0.45,music21=0.15")
    ap.add_argument("--clean", type=float, default=0.35, help="fraction of pages left undegraded")
    a = ap.parse_args(argv)
    mix = {k: float(v) for k, v in (item.split("=") for item in a.mix.split(","))}
    a.out.mkdir(parents=True, exist_ok=True)
    # Only the Mozart share reads the corpora: a build without it needs no shared folder.
    corpora = a.corpora or (shared_dir() / "corpora" if mix.get("mozart", 0) > 0 else None)
    sources = Sources(corpora, mix)
    for index in range(a.first, a.first + a.shards):
        path = a.out / f"shard-{index:05d}.npz"
        if path.exists():
            continue
        start = time.time()
        samples = build_shard(index, a.size, sources, a.height, a.clean)
        write_shard(path, samples)
        took = time.time() - start
        counts = {k: sum(1 for s in samples if s[2] == k) for k in mix}
        print(
            json.dumps(
                {
                    "shard": path.name,
                    "staves": len(samples),
                    "seconds": round(took, 1),
                    "staves_per_hour": round(len(samples) / took * 3600),
                    "kinds": counts,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
