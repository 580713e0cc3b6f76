"""Rests left unprinted in rendered training staves: spacing in the image, tokens in the label."""

import random
from fractions import Fraction

import numpy as np
import pytest

from recognition.symbols import ClefSymbol, TimeSymbol
from recognition.vocabulary import symbols_to_tokens
from training.data import hidden_rests
from training.data.hidden_rests import hide_rests
from training.data.musicxml import piece_to_musicxml
from training.data.score import Event, Measure, Piece, Pitch, spell_accidentals, staff_symbols


def two_voice_piece() -> Piece:
    """Bar 1: one voice with a quarter rest and a triplet closed by a rest; bar 2: a lower voice
    entering after a half rest; bar 3: a whole-bar rest."""
    c5 = [Pitch("C", 5)]
    first = Measure(
        [
            [
                Event("quarter", pitches=c5),
                Event("quarter"),
                Event("eighth", pitches=c5, tuplet=(3, 2), tuplet_start=True),
                Event("eighth", pitches=c5, tuplet=(3, 2)),
                Event("eighth", tuplet=(3, 2), tuplet_stop=True),
                Event("quarter", pitches=c5),
            ]
        ],
        clef=ClefSymbol("G", 2),
        key=0,
        time=TimeSymbol(4, 4),
    )
    second = Measure(
        [
            [Event("whole", pitches=[Pitch("E", 5)])],
            [Event("half"), Event("half", pitches=[Pitch("G", 4)])],
        ]
    )
    third = Measure([[Event("whole", full_measure=True)]], end="final")
    piece = Piece([[first, second, third]], [Fraction(4)] * 3)
    spell_accidentals(piece)
    return piece


def rests(piece: Piece) -> list[Event]:
    return [e for m in piece.staves[0] for v in m.voices for e in v if e.is_rest]


@pytest.fixture
def always(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HIDE_LOWER_VOICE", "HIDE_UPPER_VOICE"):
        monkeypatch.setattr(hidden_rests, name, 1.0)


@pytest.mark.usefixtures("always")
def test_rests_are_hidden_but_whole_bar_rests_and_bracket_ends_stay_printed():
    piece = two_voice_piece()
    hidden = hide_rests(piece, random.Random(0), share=1.0)
    assert [e.hidden for e in rests(hidden)] == [True, False, True, False]
    assert not any(e.hidden for e in rests(piece))  # a copy: the source piece is untouched
    # the label does not change: the model is taught the rest it cannot see
    assert symbols_to_tokens(staff_symbols(hidden, 0)) == symbols_to_tokens(staff_symbols(piece, 0))
    xml = piece_to_musicxml(hidden)
    assert xml.count('<note print-object="no"><rest/>') == 2 and xml.count("<rest") == 4


def test_most_pieces_keep_every_rest_printed_and_share_zero_draws_nothing():
    piece = two_voice_piece()
    kept = [not any(e.hidden for e in rests(hide_rests(piece, random.Random(seed)))) for seed in range(200)]
    assert 0.5 < sum(kept) / len(kept) < 0.85
    rng = random.Random(5)
    assert hide_rests(piece, rng, share=0.0) is piece
    assert rng.random() == random.Random(5).random()  # shards render as before hidden rests


@pytest.mark.usefixtures("always")
def test_a_hidden_rest_leaves_spacing_and_no_position():
    pytest.importorskip("verovio")
    from training.data.build import render_staves

    piece = two_voice_piece()
    (printed,) = render_staves(piece, random.Random(1), height=96, strength=0.0)
    hidden = hide_rests(piece, random.Random(0), share=1.0)
    (unprinted,) = render_staves(hidden, random.Random(1), height=96, strength=0.0)
    assert unprinted.tokens == printed.tokens and unprinted.matched and printed.matched
    rest_tokens = [i for i, t in enumerate(printed.tokens) if t.startswith("rest:")]
    assert np.isfinite(printed.positions[rest_tokens]).all()
    assert [bool(np.isnan(unprinted.positions[i])) for i in rest_tokens] == [True, False, True, False]
    notes = [i for i, t in enumerate(printed.tokens) if t.startswith("pos:")]
    assert np.isfinite(unprinted.positions[notes]).all()
    # the rests' glyphs are gone, the spacing is kept: same width, less ink
    assert abs(unprinted.crop.shape[1] - printed.crop.shape[1]) <= 0.05 * printed.crop.shape[1]
    assert unprinted.crop.astype(int).sum() < printed.crop.astype(int).sum()
