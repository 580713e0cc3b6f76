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

# Share of pieces that leave any rest unprinted, as run v11 drew it (`build --hidden-rests`; off
# by default: v11 did not read better than the model it started from, training/README.md); in
# those pieces, the chance for each rest of a lower voice (the one editions leave out most) and
# of the upper or only voice.
HIDING_PIECES = 0.4
HIDE_LOWER_VOICE = 0.5
HIDE_UPPER_VOICE = 0.2


def hide_rests(piece: Piece, rng: random.Random, share: float = HIDING_PIECES) -> Piece:
    """`piece`, or with chance `share` a copy with some rests marked hidden. Whole-bar rests and
    rests that open or close a tuplet bracket stay printed (the bracket needs its ends). With
    `share` 0 nothing is drawn from `rng`, so shards come out as before hidden rests existed."""
    if share <= 0 or rng.random() >= share:
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
