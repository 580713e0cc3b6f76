"""Bars that add up: measure lengths of readings, beam search over the committed model, and the
re-reading of staves whose bars do not fill the metre."""

from fractions import Fraction

import numpy as np
import pytest

from omr_server.tokens.beam import beam_search
from omr_server.tokens.manifest import default_model_dir
from omr_server.tokens.meter import bar_lengths, expected_bar_length, misfit_bars, usual_length
from omr_server.tokens.recognizer import StaffRecognizer
from omr_server.tokens.rescoring import MISFIT_PENALTY, closing_bar_penalty
from omr_server.tokens.vocabulary import tokens_to_symbols
from tests.example_staves import example_staves

MODEL_DIR = default_model_dir()


def symbols(text: str):
    return tokens_to_symbols(text.split())


def test_bar_lengths_take_the_longest_voice_and_ignore_chord_notes_and_grace_notes():
    staff = symbols(
        "clef:G2 time:3/4 pos:0 dur:quarter chord pos:2 pos:1 dur:half bar "
        "grace pos:3 dur:eighth pos:3 dur:quarter. pos:4 dur:eighth tup:3/2 pos:5 dur:eighth tup:3/2 "
        "pos:6 dur:eighth tup:3/2 pos:2 dur:quarter bar "
        "pos:1 dur:half voice:2 pos:0 dur:quarter pos:0 dur:quarter pos:0 dur:quarter bar "
        "rest:measure bar pos:1 dur:quarter"
    )
    expected = [(Fraction(3), True), (Fraction(7, 2), False), (Fraction(3), False), (None, False)]
    assert bar_lengths(staff) == expected  # the last bar, with no closing barline, is not counted


def test_misfit_bars_count_against_the_metre_and_spare_a_pick_up():
    staff = symbols("clef:G2 time:2/4 pos:0 dur:quarter bar pos:1 dur:half bar pos:2 dur:quarter bar")
    assert misfit_bars(staff) == 1  # the pick-up opening with the time signature is not counted
    assert misfit_bars(staff, Fraction(1)) == 1  # an explicit metre overrides the staff's own


def test_without_a_time_signature_the_usual_bar_length_is_expected():
    staff = symbols("pos:0 dur:half bar pos:0 dur:half bar pos:0 dur:quarter bar pos:0 dur:half bar")
    assert usual_length(bar_lengths(staff)) == Fraction(2)
    assert expected_bar_length(staff) == Fraction(2)
    assert misfit_bars(staff) == 1
    assert expected_bar_length(symbols("pos:0 dur:half bar pos:0 dur:quarter bar")) is None


def test_only_a_barline_closing_a_misfit_bar_is_penalised():
    half = Fraction(2)
    assert closing_bar_penalty(symbols("pos:0 dur:half bar pos:0 dur:quarter bar"), half) == MISFIT_PENALTY
    assert closing_bar_penalty(symbols("pos:0 dur:quarter bar pos:0 dur:half bar"), half) == 0.0
    assert closing_bar_penalty(symbols("time:3/4 pos:0 dur:quarter bar"), half) == 0.0  # a pick-up
    assert closing_bar_penalty(symbols("pos:0 dur:quarter"), half) == 0.0  # no barline yet


needs_model = pytest.mark.skipif(not (MODEL_DIR / "manifest.json").exists(), reason="no committed model")


@pytest.fixture(scope="module")
def staves() -> list[np.ndarray]:
    return example_staves()


@needs_model
def test_beam_of_one_is_greedy_decoding(staves):
    recognizer = StaffRecognizer.load(MODEL_DIR)
    greedy, _ = recognizer.recognize_ids(staves[:4])
    assert [h[0].ids for h in recognizer.beam_ids(staves[:4], 1)] == greedy


@needs_model
def test_beam_search_gives_distinct_readings_most_probable_first(staves):
    recognizer = StaffRecognizer.load(MODEL_DIR)
    for hypotheses in recognizer.beam_ids(staves[:3], 4):
        assert len(hypotheses) == 4
        assert len({tuple(h.ids) for h in hypotheses}) == 4
        assert [h.score for h in hypotheses] == sorted((h.score for h in hypotheses), reverse=True)
        for h in hypotheses:  # no penalties: the sequence's log-probability, its tokens' and <eos>'s
            assert len(h.probs) == len(h.ids)
            assert h.score <= float(np.sum(np.log(h.probs))) + 1e-4


@needs_model
def test_rescoring_only_touches_staves_whose_bars_do_not_add_up(staves):
    # page 2 of the example holds a staff the shipped model reads with a bar that does not add up
    staves = staves + example_staves(page=1)
    greedy = StaffRecognizer.load(MODEL_DIR).recognize(staves)
    rescored = StaffRecognizer.load(MODEL_DIR, rescore_beams=4).recognize(staves)
    misfits_before = misfits_after = 0
    for before, after in zip(greedy, rescored, strict=True):
        misfits_before += misfit_bars(before.symbols)
        misfits_after += misfit_bars(after.symbols, expected_bar_length(before.symbols))
        if misfit_bars(before.symbols) == 0:
            assert after.tokens == before.tokens
    assert misfits_before > 0, "no misread bar left in the example: pick staves this model misreads"
    assert misfits_after < misfits_before


def _toy_step(token, position, past_k, past_v, cross_k, cross_v, cross_bias):
    """A decoder over tokens (pad, bos, eos, x, bar): first `bar` (0.6) or `x` (0.4), then <eos> (0.9)."""
    n = token.shape[0]
    p = np.full((n, 5), 1e-9)
    p[:, 4 if position == 0 else 2] = 0.6 if position == 0 else 0.9
    p[:, 3] = 0.4 if position == 0 else 0.1
    grown = np.zeros((1, n, 1, position + 1, 1), np.float32)
    return np.log(p), grown, grown.copy()


def _toy_search(penalize=None):
    keys = np.zeros((1, 1, 1, 4, 1), np.float32)
    cross = (keys, keys.copy(), np.zeros((1, 1, 1, 4), np.float32))
    empty = np.zeros((1, 1, 1, 0, 1), np.float32)
    kw = {"beams": 2, "bos": 1, "eos": 2, "budgets": [5], "penalize": penalize, "checked": frozenset({4})}
    return beam_search(_toy_step, cross, empty, **kw)[0]


def test_beam_search_penalties_let_a_less_probable_reading_win():
    assert _toy_search()[0].ids == [4]  # `bar` is the more probable first token
    penalised = _toy_search(lambda staff, ids: 5.0 if ids == [4] else 0.0)
    assert penalised[0].ids == [3]
    assert penalised[0].score == pytest.approx(np.log(0.4) + np.log(0.9), abs=1e-5)
    assert penalised[1].score == pytest.approx(np.log(0.6) + np.log(0.9) - 5.0, abs=1e-5)
