"""Rests left unprinted, as printed editions leave them.

Editions often print no rests for a second voice that enters mid-bar, and engraved single lines
(a melody taken out of a texture) can leave gaps that are only spacing; the kern corpora mark such
rests `yy`. The model must still keep time across them, so some rendered rests are engraved as
spacing only (`print-object="no"`) while the label keeps them.
"""

from __future__ import annotations

import copy
import random

from training.data.score import Piece

# Share of pieces that leave any rest unprinted; in those, the chance for each rest of a lower
# voice (the one editions leave out most) and of the upper or only voice.
HIDING_PIECES = 0.4
HIDE_LOWER_VOICE = 0.5
HIDE_UPPER_VOICE = 0.2


def hide_rests(piece: Piece, rng: random.Random) -> Piece:
    """A copy of `piece` with some rests marked hidden. Whole-bar rests and rests that open or
    close a tuplet bracket stay printed (the bracket needs its ends)."""
    if rng.random() >= HIDING_PIECES:
        return piece
    out = copy.deepcopy(piece)
    for staff in out.staves:
        for measure in staff:
            for v, voice in enumerate(measure.voices):
                chance = HIDE_LOWER_VOICE if v > 0 else HIDE_UPPER_VOICE
                for event in voice:
                    printable = event.is_rest and not (event.full_measure or event.grace)
                    if printable and not (event.tuplet_start or event.tuplet_stop) and rng.random() < chance:
                        event.hidden = True
    return out
