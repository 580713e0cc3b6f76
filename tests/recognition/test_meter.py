"""Bars that add up: measure lengths of readings and the bar length each staff of a page expects."""

from fractions import Fraction

from recognition.meter import (
    bar_lengths,
    last_metre,
    misfit_bars,
    misread_metres,
    page_bar_lengths,
    time_tokens_by_length,
    usual_length,
)
from recognition.vocabulary import tokens_to_symbols


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
    assert misfit_bars(staff, Fraction(2)) == 1  # the pick-up opening with the time signature is not counted
    assert misfit_bars(staff, Fraction(1)) == 1


def test_without_a_time_signature_the_usual_bar_length_is_expected():
    staff = symbols("pos:0 dur:half bar pos:0 dur:half bar pos:0 dur:quarter bar pos:0 dur:half bar")
    assert usual_length(bar_lengths(staff)) == Fraction(2)
    assert page_bar_lengths([staff]) == [Fraction(2)]
    assert misfit_bars(staff, Fraction(2)) == 1
    assert usual_length(bar_lengths(symbols("pos:0 dur:half bar pos:0 dur:quarter bar"))) is None


def test_a_page_carries_its_time_signatures_to_the_staves_that_follow():
    page = [
        symbols("clef:G2 time:2/4 pos:0 dur:half bar pos:0 dur:quarter bar"),
        symbols("clef:G2 pos:0 dur:quarter bar pos:0 dur:half bar"),  # too few bars of its own
        symbols("clef:G2 time:3/4 pos:0 dur:half. bar"),
        symbols("clef:G2 pos:0 dur:half bar"),
    ]
    assert page_bar_lengths(page) == [Fraction(2), Fraction(2), Fraction(3), Fraction(3)]


def test_a_page_without_a_time_signature_expects_the_length_most_of_its_bars_have():
    page = [
        symbols("clef:F4 pos:0 dur:half bar pos:0 dur:quarter bar"),
        symbols("clef:F4 pos:0 dur:half bar pos:0 dur:half bar"),
    ]
    assert page_bar_lengths(page) == [Fraction(2), Fraction(2)]
    assert page_bar_lengths([symbols("pos:0 dur:half bar pos:0 dur:quarter bar")]) == [None]


def test_a_page_whose_bars_agree_on_no_length_expects_the_metre_in_force_before_it():
    # unmarked triplets read as plain eighths (6 quarters) in some bars, as triplets in others
    eighths, triplets = " ".join(["pos:0 dur:eighth"] * 12), " ".join(["pos:0 dur:eighth tup:3/2"] * 12)
    page = [
        symbols(f"clef:G2 {eighths} bar {triplets} bar"),
        symbols(f"clef:F4 {eighths} bar {triplets} bar"),
    ]
    assert page_bar_lengths(page) == [None, None]
    assert page_bar_lengths(page, carried=Fraction(4)) == [Fraction(4), Fraction(4)]
    # where most bars share a length, it stands (a misread signature is not carried on)
    even = [symbols("clef:G2 pos:0 dur:half bar pos:0 dur:half bar pos:0 dur:quarter bar")]
    assert page_bar_lengths(even, carried=Fraction(9, 2)) == [Fraction(2)]
    changed = [symbols("clef:G2 time:3/4 pos:0 dur:half. bar"), *page]
    assert page_bar_lengths(changed, carried=Fraction(2)) == [Fraction(3)] * 3


def test_the_last_time_signature_of_a_page_is_carried_to_the_next():
    plain = symbols("clef:G2 pos:0 dur:half bar")
    assert last_metre([plain], carried=Fraction(2)) == Fraction(2)
    assert last_metre([plain]) is None
    shown = [symbols("clef:G2 time:3/4 pos:0 dur:half. bar"), plain, symbols("time:6/8 pos:0 dur:half. bar")]
    assert last_metre(shown, carried=Fraction(2)) == Fraction(3)


def test_a_time_signature_that_its_bars_contradict_is_named_with_the_length_they_share():
    bars = " bar ".join(["pos:0 dur:quarter pos:0 dur:eighth"] * 3)  # 3/8 bars
    page = [
        symbols(f"clef:G2 time:9/8 pos:0 dur:quarter pos:0 dur:eighth bar {bars} bar"),
        symbols(f"{bars} bar"),
    ]
    assert misread_metres(page) == {0: Fraction(3, 2)}
    # a change of metre followed by bars of its length, and a signature with too few bars, stand
    change = [symbols(f"clef:G2 pos:0 dur:half bar time:3/8 {bars} bar"), symbols(f"{bars} bar")]
    assert misread_metres(change) == {}
    assert misread_metres([symbols("clef:G2 time:9/8 pos:0 dur:quarter bar pos:0 dur:quarter bar")]) == {}
    # a later signature governs the staves after it, not the first one
    later = [symbols(f"clef:G2 time:3/8 {bars} bar"), symbols(f"time:9/8 {bars} bar {bars} bar")]
    assert misread_metres(later) == {1: Fraction(3, 2)}


def test_time_tokens_are_grouped_by_the_bar_length_they_ask_for():
    groups = time_tokens_by_length(["pos:0", "time:3/8", "time:6/16", "time:4/4", "time:C", "time:C/"])
    assert groups == {
        Fraction(3, 2): ["time:3/8", "time:6/16"],
        Fraction(4): ["time:4/4", "time:C", "time:C/"],
    }
