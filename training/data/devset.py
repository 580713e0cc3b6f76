"""The movements of the omr-bench dev set (Mozart) and the Beethoven dev split, which training
must never see.

Reproduces the shuffles of omr-bench's make_cases.py (shared folder; seed 20261123, 10 cases per
tier): piano-scan takes the first 10 shuffled movements, then the rest is shuffled again and
piano-digital and mono-digital take the next 10 each. Training uses the other movements.
"""

from __future__ import annotations

import random
from pathlib import Path

from training.shared import shared_dir

MOZART = "mozart-piano-sonatas"


def _corpora(corpora: Path | None) -> Path:
    """The given corpora folder, by default the shared folder's (SystemExit saying what is missing)."""
    return corpora if corpora is not None else shared_dir() / "corpora"


def devset_tiers(
    corpora: Path | None = None, seed: int = 20261123, per_tier: int = 10
) -> dict[str, list[Path]]:
    rng = random.Random(seed)
    root = _corpora(corpora) / MOZART
    scanned = [
        k
        for k in sorted((root / "kern").glob("*.krn"))
        if (root / "reference-edition" / (k.stem + ".pdf")).exists()
    ]
    rng.shuffle(scanned)
    digital = scanned[per_tier:]
    rng.shuffle(digital)
    return {
        "piano-scan": scanned[:per_tier],
        "piano-digital": digital[:per_tier],
        "mono-digital": digital[per_tier : 2 * per_tier],
    }


BEETHOVEN = "beethoven-piano-sonatas"


def beethoven_dev_movements(
    corpora: Path | None = None, seed: int = 20261123, per_tier: int = 10
) -> list[Path]:
    """The Beethoven movements held out as the `beethoven-scan` dev tier: the first `per_tier` of
    the scanned movements in make_cases.py's shuffle (`--scanned beethoven-piano-sonatas`)."""
    root = _corpora(corpora) / BEETHOVEN
    scanned = [
        k
        for k in sorted((root / "kern").glob("*.krn"))
        if (root / "reference-edition" / (k.stem + ".pdf")).exists()
    ]
    random.Random(seed).shuffle(scanned)
    return scanned[:per_tier]


def training_movements(corpora: Path | None = None) -> list[Path]:
    corpora = _corpora(corpora)
    held_out = {p for paths in devset_tiers(corpora).values() for p in paths}
    return [k for k in sorted((corpora / MOZART / "kern").glob("*.krn")) if k not in held_out]


def beethoven_training_movements(corpora: Path | None = None) -> list[Path]:
    """Every Beethoven kern movement but the `beethoven-scan` dev tier's (scanned or not)."""
    corpora = _corpora(corpora)
    held_out = set(beethoven_dev_movements(corpora))
    return [k for k in sorted((corpora / BEETHOVEN / "kern").glob("*.krn")) if k not in held_out]
