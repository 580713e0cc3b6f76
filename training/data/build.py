"""Render training shards: `python -m training.data.build --out data/shards --shards 40`.

Each shard is an .npz of N staff crops (uint8, ink = 255, height = the model input height,
concatenated along the width) with their token sequences. Rendering is resumable: shards that
exist are skipped (each shard is seeded by its index). Sources per shard: synthetic pieces,
Mozart and Beethoven training movements (never the dev-set movements), and the music21 corpus.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recognition.crop import DEFAULT_HEIGHT, crop_column, crop_staff
from recognition.vocabulary import VocabularyError, symbols_to_tokens
from training.data.augment import degrade, rotate
from training.data.hidden_rests import hide_rests
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


def _rotated_x(y: float, x: float, cx: float, cy: float, degrees: float) -> float:
    """Column of page point (x, y) after PIL's counter-clockwise rotation about (cx, cy)."""
    a = math.radians(degrees)
    return cx + (x - cx) * math.cos(a) + (y - cy) * math.sin(a)


@dataclass
class RenderedStaff:
    crop: np.ndarray  # uint8, ink = 255
    tokens: list[str]
    # one float per token: the crop column (float pixel index) of the notehead centre of each
    # `pos:` token and of the rest glyph centre of each `rest:` token, NaN on every other token;
    # all NaN when the SVG could not be matched to the labels (`matched` False)
    positions: np.ndarray
    matched: bool


def _diatonic(step: str, octave: int) -> int:
    return octave * 7 + "CDEFGAB".index(step)


def match_glyphs(piece: Piece, staff: int, geometry: StaffGeometry) -> list[tuple[float, float]] | None:
    """Page centre (x, y; continuous raster coordinates, unrotated) of every note and rest symbol of
    `staff_symbols(piece, staff)`, in that order; None when the SVG's events do not pair one to one
    with the piece's (measure count, event count per measure, rest/note, chord size)."""
    measures = piece.staves[staff]
    if len(geometry.measures) != len(measures):
        return None
    out: list[tuple[float, float]] = []
    for measure, engraved in zip(measures, geometry.measures, strict=True):
        events = [e for voice in measure.voices for e in voice if e.clef is None]
        printed = iter(engraved)
        if sum(not e.hidden for e in events) != len(engraved):
            return None
        for event in events:
            if event.hidden:  # no glyph: its token gets no position
                out.append((math.nan, math.nan))
                continue
            glyphs = next(printed)
            if event.is_rest != glyphs.rest:
                return None
            if event.is_rest:
                if len(glyphs.centres) != 1:
                    return None
                out.append(glyphs.centres[0])
                continue
            if len(glyphs.centres) != len(event.pitches):
                return None
            # chord notes by pitch: the lowest pitch gets the lowest notehead (largest y);
            # seconds are displaced sideways, so each note keeps its own notehead's x
            steps = [_diatonic(p.step, p.octave) for p in event.pitches]
            by_pitch = sorted(range(len(steps)), key=steps.__getitem__)
            by_height = sorted(glyphs.centres, key=lambda c: (-c[1], c[0]))
            mine: list[tuple[float, float]] = [(0.0, 0.0)] * len(event.pitches)
            for k, centre in zip(by_pitch, by_height, strict=True):
                mine[k] = centre
            out += mine
    return out


def anchor_indices(tokens: list[str]) -> list[int]:
    """Indices of the tokens that stand for a glyph: each note's `pos:P` and each rest."""
    return [i for i, t in enumerate(tokens) if t.startswith(("pos:", "rest:"))]


def token_positions(
    tokens: list[str], centres: list[tuple[float, float]] | None, geometry: StaffGeometry
) -> np.ndarray | None:
    """Per token, the page centre x of its glyph (NaN where none, hidden rests included),
    checking every notehead's height against its `pos:P` token (half a staff space tolerance);
    None when they disagree."""
    anchors = anchor_indices(tokens)
    if centres is None or len(anchors) != len(centres):
        return None
    half = (geometry.bottom - geometry.top) / 8  # page px per staff position
    xs = np.full(len(tokens), np.nan, np.float64)
    for i, (x, y) in zip(anchors, centres, strict=True):
        if tokens[i].startswith("pos:"):
            expected = geometry.bottom - int(tokens[i][4:]) * half
            if abs(y - expected) > half:
                return None
        xs[i] = x
    return xs


def render_staves(piece: Piece, rng: random.Random, height: int, strength: float) -> list[RenderedStaff]:
    """Crops, tokens and glyph positions of every staff of one engraved piece."""
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
    for s, (geometry, tokens) in enumerate(zip(engraving.staves, labels, strict=True)):
        space = (geometry.bottom - geometry.top) / 4
        mid = (geometry.left + geometry.right) / 2
        top = _rotated(geometry.top, mid, cx, cy, degrees) + rng.gauss(0, 0.12) * space
        bottom = _rotated(geometry.bottom, mid, cx, cy, degrees) + rng.gauss(0, 0.12) * space
        left = geometry.left + rng.uniform(-1.0, 1.0) * space
        right = geometry.right + rng.uniform(-1.0, 0.5) * space
        if not numbers_visible(geometry, top, bottom, space, cy, degrees, mid, cx):
            continue  # its label would name a tuplet whose number the crop does not show
        crop = crop_staff(page, top, bottom, left, right, height=height, max_width=MAX_WIDTH)
        centres = match_glyphs(piece, s, geometry)
        xs = token_positions(tokens, centres, geometry)
        positions = np.full(len(tokens), np.nan, np.float32)
        if xs is not None and centres is not None:
            for i, (_, y) in zip(anchor_indices(tokens), centres, strict=True):
                if math.isnan(xs[i]):
                    continue  # a hidden rest
                # continuous raster coordinates: rotate (PIL turns about the continuous centre),
                # then to a pixel index (pixel column c spans [c, c + 1)), then into the crop
                x = _rotated_x(y, float(xs[i]), cx, cy, degrees) - 0.5
                positions[i] = crop_column(x, top, bottom, left, right, height=height, max_width=MAX_WIDTH)
        out.append(RenderedStaff((crop * 255).round().astype(np.uint8), tokens, positions, xs is not None))
    return out


def render_piece(
    piece: Piece, rng: random.Random, height: int, strength: float
) -> list[tuple[np.ndarray, list[str]]]:
    """Crops and tokens of every staff of one engraved piece."""
    return [(r.crop, r.tokens) for r in render_staves(piece, rng, height, strength)]


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
    """Chooses the music for each piece: synthetic, Mozart and Beethoven (training movements),
    music21."""

    def __init__(self, corpora: Path | None, mix: dict[str, float]):
        from training.data.corpus import music21_sources
        from training.data.devset import beethoven_training_movements, training_movements

        self.mix = mix
        found = corpora is not None and corpora.exists()
        self.mozart = training_movements(corpora) if found else []
        self.beethoven = beethoven_training_movements(corpora) if found else []
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
                grand = kind in ("mozart", "beethoven") and rng.random() < 0.7
                pieces = score_pieces(score, rng, grand=grand)
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


def build_shard(
    index: int, size: int, sources: Sources, height: int, clean_fraction: float, hidden_rests: float = 0.0
) -> list[tuple[np.ndarray, list[str], str, np.ndarray, bool]]:
    """(crop, tokens, source kind, positions, matched) of `size` staves; `hidden_rests`: share
    of pieces that leave some rests unprinted (training/data/hidden_rests.py)."""
    rng = random.Random(1_000_003 * index + 17)
    samples: list[tuple[np.ndarray, list[str], str, np.ndarray, bool]] = []
    while len(samples) < size:
        kind, piece = sources.next(rng)
        strength = 0.0 if rng.random() < clean_fraction else rng.uniform(0.2, 1.0)
        try:
            staves = render_staves(hide_rests(piece, rng, hidden_rests), rng, height, strength)
        except (VocabularyError, ValueError, KeyError, ZeroDivisionError):
            continue
        for r in staves:
            if r.crop.shape[1] < MAX_WIDTH and len(r.tokens) < 500:
                samples.append((r.crop, r.tokens, kind, r.positions, r.matched))
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
    ap.add_argument(
        "--mix",
        default="synthetic=0.4,mozart=0.45,music21=0.15",
        help="shares of the sources: synthetic, mozart, beethoven, music21",
    )
    ap.add_argument("--clean", type=float, default=0.35, help="fraction of pages left undegraded")
    ap.add_argument(
        "--hidden-rests",
        type=float,
        default=0.0,
        help="share of pieces that leave some rests unprinted, still labelled (run v11: 0.4)",
    )
    a = ap.parse_args(argv)
    mix = {k: float(v) for k, v in (item.split("=") for item in a.mix.split(","))}
    a.out.mkdir(parents=True, exist_ok=True)
    # Only the corpus shares read the corpora: a build without them needs no shared folder.
    reads_corpora = mix.get("mozart", 0) > 0 or mix.get("beethoven", 0) > 0
    corpora = a.corpora or (shared_dir() / "corpora" if reads_corpora else None)
    sources = Sources(corpora, mix)
    for index in range(a.first, a.first + a.shards):
        path = a.out / f"shard-{index:05d}.npz"
        if path.exists():
            continue
        start = time.time()
        built = build_shard(index, a.size, sources, a.height, a.clean, a.hidden_rests)
        samples = [(img, tokens, kind) for img, tokens, kind, _, _ in built]
        write_shard(path, samples, positions=[p for _, _, _, p, _ in built])
        took = time.time() - start
        counts = {k: sum(1 for s in samples if s[2] == k) for k in mix}
        anchors = sum(1 for _, tokens, *_ in built for t in tokens if t.startswith(("pos:", "rest:")))
        positioned = sum(int(np.isfinite(p).sum()) for _, _, _, p, _ in built)
        print(
            json.dumps(
                {
                    "shard": path.name,
                    "staves": len(samples),
                    "seconds": round(took, 1),
                    "staves_per_hour": round(len(samples) / took * 3600),
                    "kinds": counts,
                    "unmatched_staves": sum(1 for *_, matched in built if not matched),
                    "positioned": round(positioned / max(anchors, 1), 4),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
