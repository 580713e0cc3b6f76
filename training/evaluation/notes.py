"""Note-level precision/recall/F1 of a recognised score against ground truth.

Same definition as omr-bench's omrscore.py (re-implemented here; cross-checked by
tests/training/test_note_score.py): a score is a list of measures, a measure the multiset of
notated noteheads (onset inside the measure in quarter notes, MIDI pitch), all staves merged,
grace notes left out. The two measure lists are aligned with Needleman-Wunsch (free gaps, a pair
of measures is worth the noteheads they share); matched noteheads give precision and recall.
"Pitch" figures ignore the onset.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

Notehead = tuple[str, int]  # (onset in the measure as a reduced fraction string, MIDI pitch)
Measures = list[list[Notehead]]


def measures_of(score: Any) -> Measures:
    """Noteheads per measure of a music21 score, all parts merged measure by measure."""
    import music21 as m21

    parts = list(score.parts) or [score]
    per_part: list[list[list[Notehead]]] = []
    for part in parts:
        rows = []
        for measure in part.getElementsByClass(m21.stream.Measure):
            row: list[Notehead] = []
            for n in measure.flatten().notes:
                if n.duration.isGrace:
                    continue
                onset = str(Fraction(n.offset).limit_denominator(192))
                row += [(onset, int(p.midi)) for p in n.pitches]
            rows.append(row)
        per_part.append(rows)
    count = max((len(rows) for rows in per_part), default=0)
    merged: Measures = []
    for i in range(count):
        row = [x for rows in per_part if i < len(rows) for x in rows[i]]
        merged.append(sorted(row))
    return merged


def load_measures(path: Path) -> Measures:
    """From a `.gt.json` of omr-bench (`{"measures": [[[onset, midi], ...], ...]}`) or any score file."""
    if path.suffix == ".json":
        return [[(str(x[0]), int(x[1])) for x in row] for row in json.loads(path.read_text())["measures"]]
    import music21 as m21

    return measures_of(m21.converter.parse(str(path)))


def aligned_pairs(
    truth: Measures, result: Measures, key: Callable[[Notehead], object]
) -> list[tuple[int, int]]:
    """The (truth, result) measure pairs of the best alignment (Needleman-Wunsch, free gaps,
    a pair worth the noteheads it shares)."""
    g = [Counter(key(x) for x in row) for row in truth]
    o = [Counter(key(x) for x in row) for row in result]
    table = [[0] * (len(o) + 1)]
    for gi in g:
        previous, current = table[-1], [0] * (len(o) + 1)
        for j in range(1, len(o) + 1):
            shared = sum((gi & o[j - 1]).values())
            current[j] = max(previous[j], current[j - 1], previous[j - 1] + shared)
        table.append(current)
    pairs = []
    i, j = len(g), len(o)
    while i > 0 and j > 0:
        if table[i][j] == table[i - 1][j]:
            i -= 1
        elif table[i][j] == table[i][j - 1]:
            j -= 1
        else:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
    return pairs[::-1]


def align(truth: Measures, result: Measures, key: Callable[[Notehead], object]) -> tuple[int, int, int]:
    """(matched, noteheads in truth, noteheads in result) after measure alignment."""
    matched = sum(
        sum((Counter(key(x) for x in truth[i]) & Counter(key(x) for x in result[j])).values())
        for i, j in aligned_pairs(truth, result, key)
    )
    return matched, sum(len(row) for row in truth), sum(len(row) for row in result)


@dataclass
class Counts:
    matched: int = 0
    truth: int = 0
    result: int = 0

    def add(self, other: Counts) -> None:
        self.matched += other.matched
        self.truth += other.truth
        self.result += other.result

    def figures(self) -> dict[str, float | int]:
        p = self.matched / self.result if self.result else 0.0
        r = self.matched / self.truth if self.truth else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4),
                "matched": self.matched, "gt": self.truth, "out": self.result}  # fmt: skip


def score_measures(truth: Measures, result: Sequence[list[Notehead]]) -> dict[str, Counts]:
    res = list(result)
    return {
        "note": Counts(*align(truth, res, key=lambda x: x)),
        "pitch": Counts(*align(truth, res, key=lambda x: x[1])),
    }
