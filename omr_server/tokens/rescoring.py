"""Choose among a staff's best readings the one whose bars add up.

Greedy decoding commits to each token in turn; when the result has bars that do not fill the
metre, one of the next most probable readings (beam search) often does: the dot, tuplet mark or
repeated note greedy decoding missed. Each reading is scored by its log-probability less a
penalty per misfit bar, so a reading that fixes a bar wins only if the model finds it plausible.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from omr_server.tokens.meter import bar_lengths, metre_length, misfit_bars, usual_length
from omr_server.tokens.symbols import StaffSymbol

# log-probability one misfit bar costs: a reading 20x less probable that fixes a bar wins
MISFIT_PENALTY = 3.0


def expected_bar_length(symbols: Sequence[StaffSymbol]) -> Fraction | None:
    return metre_length(symbols) or usual_length(bar_lengths(symbols))


Scored = tuple[float, Sequence[StaffSymbol]]  # (log-probability, symbols) of one reading


def best_reading(readings: Sequence[Scored], expected: Fraction, penalty: float = MISFIT_PENALTY) -> int:
    """Index of the best of (log-probability, symbols) readings of one staff."""
    scores = [log_prob - penalty * misfit_bars(symbols, expected) for log_prob, symbols in readings]
    return scores.index(max(scores))
