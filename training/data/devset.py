"""The Mozart movements of the omr-bench dev set, which training must never see.

Reproduces the shuffles of /work/shared/omr-bench/make_cases.py (seed 20261123, 10 cases per
tier): piano-scan takes the first 10 shuffled movements, then the rest is shuffled again and
piano-digital and mono-digital take the next 10 each. Training uses the other movements.
"""

from __future__ import annotations

import random
from pathlib import Path

DEFAULT_CORPORA = Path("/work/shared/corpora")
MOZART = "mozart-piano-sonatas"


def devset_tiers(
    corpora: Path = DEFAULT_CORPORA, seed: int = 20261123, per_tier: int = 10
) -> dict[str, list[Path]]:
    rng = random.Random(seed)
    root = corpora / MOZART
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


def training_movements(corpora: Path = DEFAULT_CORPORA) -> list[Path]:
    held_out = {p for paths in devset_tiers(corpora).values() for p in paths}
    return [k for k in sorted((corpora / MOZART / "kern").glob("*.krn")) if k not in held_out]
