"""Implied triplets: which readings of an overfull bar are proposed, and that the re-reader takes
one only when the model does not find it absurd."""

from fractions import Fraction

import pytest

from recognition.implied_tuplets import implied_triplet_bars
from tests.recognition.test_reread import reread

EIGHTHS = "pos:0 dur:eighth " * 6


def bars(tokens: str, expected: Fraction) -> list[str]:
    return [" ".join(c) for c in implied_triplet_bars(tokens.split(), expected)]


def test_six_plain_eighths_in_two_quarters_are_two_triplets():
    assert bars(EIGHTHS.strip(), Fraction(2)) == [" ".join(["pos:0 dur:eighth tup:3/2"] * 6)]


def test_a_bar_that_does_not_overflow_gets_no_triplets():
    assert bars(EIGHTHS.strip(), Fraction(3)) == []
    assert bars(EIGHTHS.strip(), Fraction(4)) == []


def test_groups_start_on_their_triplet_grid_and_take_exactly_the_excess():
    # a quarter, then six 16ths, in 5/8 read as 7/4: nothing but the 16ths can be triplets,
    # and only two groups, each starting on an eighth of the clock, take away the 1/2 too much
    tokens = "pos:0 dur:quarter " + "pos:1 dur:16th " * 6
    assert bars(tokens.strip(), Fraction(2)) == [
        "pos:0 dur:quarter " + " ".join(["pos:1 dur:16th tup:3/2"] * 6)
    ]
    # one eighth off the grid: the 16ths after it would start a triplet at 3/2 + 1/2, not on it
    off = "pos:0 dur:quarter pos:0 dur:eighth. " + "pos:1 dur:16th " * 3
    assert bars(off.strip(), Fraction(2)) == []


def test_dotted_tupled_and_chord_tones_are_left_as_read():
    tokens = "pos:0 dur:eighth. pos:0 dur:16th pos:0 dur:eighth tup:3/2 pos:0 dur:eighth chord pos:2"
    assert bars(tokens, Fraction(1)) == []
    chords = "pos:0 dur:eighth chord pos:2 pos:0 dur:eighth chord pos:4 pos:0 dur:eighth"
    assert bars(chords, Fraction(1)) == [
        "pos:0 dur:eighth tup:3/2 chord pos:2 pos:0 dur:eighth tup:3/2 chord pos:4 pos:0 dur:eighth tup:3/2"
    ]


def test_only_the_voice_that_overflows_changes():
    tokens = EIGHTHS + "voice:2 rest:half"
    assert bars(tokens, Fraction(2)) == [" ".join(["pos:0 dur:eighth tup:3/2"] * 6) + " voice:2 rest:half"]


def test_a_bar_with_its_barline_is_refused():
    with pytest.raises(ValueError):
        implied_triplet_bars(["pos:0", "dur:eighth", "bar"], Fraction(1))


def triplet_script(p_mark: float) -> dict[str, dict[str, float]]:
    """Six quarters in a bar of four: after each quarter the model gives `p_mark` to a "3"."""
    plain = [*["pos:0", "dur:quarter"] * 6, "bar"]
    marked = [*["pos:0", "dur:quarter", "tup:3/2"] * 6, "bar"]
    script: dict[str, dict[str, float]] = {}
    for seq in (plain, marked):
        for i, word in enumerate(seq):
            history = " ".join(seq[:i])
            if word == "tup:3/2" or (seq[i - 1 : i] == ["dur:quarter"]):
                unmarked = word if word != "tup:3/2" else ("bar" if history.count("pos:0") == 6 else "pos:0")
                script[history] = {"tup:3/2": p_mark, unmarked: 1 - p_mark}
            else:
                script[history] = {word: 1.0}
    return script


GREEDY = " ".join(["pos:0 dur:quarter"] * 6) + " bar"


def test_an_implied_triplet_is_taken_when_the_model_finds_the_marks_plausible():
    # six marks at 0.18 (each e^1.5 less likely than none) cost more than the bar search may
    # spend on a whole bar (MAX_FIX_COST = 6), less than MAX_IMPLIED_COST (2) each
    marked = " ".join(["pos:0 dur:quarter tup:3/2"] * 6) + " bar"
    assert reread(triplet_script(0.18), GREEDY, Fraction(4)) == (marked, 1)


def test_an_implied_triplet_the_model_finds_absurd_is_not_taken():
    assert reread(triplet_script(1e-4), GREEDY, Fraction(4)) == (GREEDY, 0)
