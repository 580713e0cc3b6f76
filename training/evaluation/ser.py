"""Symbol error rate: token edit distance over reference length, summed over staves."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rapidfuzz.distance import Levenshtein


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    return int(Levenshtein.distance(list(reference), list(hypothesis)))


def symbol_error_rate(pairs: Iterable[tuple[Sequence[str], Sequence[str]]]) -> float:
    """Total edits / total reference tokens over (reference, hypothesis) pairs."""
    edits = total = 0
    for reference, hypothesis in pairs:
        edits += edit_distance(reference, hypothesis)
        total += len(reference)
    return edits / total if total else 0.0
