"""The data engine: labels come from the same piece as the engraving, and agree with it."""

import random
from fractions import Fraction

import music21 as m21
import pytest

from recognition.symbols import NoteSymbol, RestSymbol, symbol_duration
from recognition.vocabulary import symbols_to_tokens, tokens_to_symbols
from training.data.devset import (
    beethoven_dev_movements,
    beethoven_training_movements,
    devset_tiers,
    training_movements,
)
from training.data.musicxml import piece_to_musicxml
from training.data.score import staff_symbols
from training.data.synthetic import TRIPLET_FIGURES, random_piece, triplet_values


@pytest.mark.parametrize("seed", range(25))
def test_labels_match_the_musicxml_that_is_engraved(seed):
    rng = random.Random(seed)
    piece = random_piece(rng)
    xml = piece_to_musicxml(piece, rng=rng)
    parsed = m21.converter.parse(xml, format="musicxml")
    assert isinstance(parsed, m21.stream.Score)
    sources = list(parsed.parts)  # music21 splits a grand staff into one PartStaff per staff
    assert len(sources) == len(piece.staves)
    for s, source in enumerate(sources):
        labels = staff_symbols(piece, s)
        assert tokens_to_symbols(symbols_to_tokens(labels)) == labels
        # every labelled (non-grace) notehead is a note of the engraved staff: same pitch, type
        # and sounding length (tuplets included)
        labelled = sorted(
            (n.step, n.octave, n.note_type, n.duration)
            for n in labels
            if isinstance(n, NoteSymbol) and not n.grace
        )
        engraved = sorted(
            (p.step, p.octave, n.duration.type, Fraction(n.duration.quarterLength))
            for n in source.flatten().notes
            if not n.duration.isGrace
            for p in n.pitches
        )
        assert labelled == engraved
        rests = [r for r in labels if isinstance(r, RestSymbol)]
        assert len(rests) == len(source.flatten().getElementsByClass(m21.note.Rest))


@pytest.mark.parametrize("unit", ["quarter", "eighth", "16th"])
def test_every_triplet_figure_lasts_two_of_its_units(unit):
    for figure, _ in TRIPLET_FIGURES:
        values = triplet_values(unit, figure)
        assert len(values) == len(figure)
        total = sum(symbol_duration(t, dots, (3, 2), False) for t, dots in values)
        assert total == 2 * symbol_duration(unit, 0, None, False)


def test_dev_set_movements_are_never_trained_on():
    try:
        tiers = devset_tiers()
    except SystemExit as missing:  # no shared folder: the message says where it was looked for
        pytest.skip(str(missing))
    held_out = [p for paths in tiers.values() for p in paths]
    if not held_out:
        pytest.skip("the Mozart corpus is not on this machine")
    assert [len(paths) for paths in tiers.values()] == [10, 10, 10]
    assert len(set(held_out)) == 30
    train = training_movements()
    assert len(train) == 39
    assert not set(train) & set(held_out)


def test_beethoven_dev_split_is_never_trained_on():
    try:
        held_out = beethoven_dev_movements()
    except SystemExit as missing:
        pytest.skip(str(missing))
    if not held_out:
        pytest.skip("the Beethoven corpus is not on this machine")
    train = beethoven_training_movements()
    assert len(held_out) == 10
    assert train and not set(train) & set(held_out)
    assert len(train) + len(held_out) == len(list(held_out[0].parent.glob("*.krn")))


def test_engraving_gives_one_crop_per_staff_with_exact_labels():
    pytest.importorskip("verovio")
    from training.data.build import render_piece

    rng = random.Random(4)  # a grand staff whose tuplet numbers all show (see test_tuplet_visibility)
    piece = random_piece(rng)
    crops = render_piece(piece, rng, height=96, strength=0.0)
    assert len(piece.staves) == 2 and len(crops) == len(piece.staves)
    for s, (image, tokens) in enumerate(crops):
        assert image.shape[0] == 96 and image.dtype.name == "uint8"
        assert tokens == symbols_to_tokens(staff_symbols(piece, s))
        # the staff lines sit on rows 32..64 (crop convention), give or take the detection jitter
        # (on an undegraded page the five most inked rows are the staff lines; ink is bright)
        ink = image[:, 10 : image.shape[1] - 10].mean(axis=1)
        assert all(28 <= row <= 68 for row in ink.argsort()[-5:])
