"""Re-read a staff so that its bars add up.

Greedy decoding commits to each token in turn; when the result has bars that do not fill the
metre, a slightly less probable reading often does: the dot, tuplet mark or repeated note greedy
decoding missed. Such staves are decoded again with beam search in which every barline that
closes a misfit bar costs a fixed penalty, so beams that keep the metre overtake those that break
it, but only where the model finds them plausible (a fix may cost at most the penalty in
log-probability per bar).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from omr_server.tokens.meter import bar_lengths
from omr_server.tokens.symbols import StaffSymbol

# log-probability one misfit bar costs: a reading up to 20x less probable that fixes a bar wins
MISFIT_PENALTY = 3.0


def closing_bar_penalty(
    symbols: Sequence[StaffSymbol], expected: Fraction, penalty: float = MISFIT_PENALTY
) -> float:
    """Penalty for the bar the last barline of `symbols` closes (beam search, as it goes)."""
    bars = bar_lengths(symbols)
    if not bars:
        return 0.0
    length, timed = bars[-1]
    return penalty if length is not None and not timed and length != expected else 0.0
