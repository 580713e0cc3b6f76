"""Written pitch in context: staff positions decoded once, resolved under the clef in force."""

from __future__ import annotations

from omr_server.fragment.pitch import written_pitches
from recognition.symbols import ClefSymbol, NoteSymbol
from recognition.vocabulary import tokens_to_symbols

BASS = ClefSymbol("F", 4)


def _pitches(symbols: list) -> list[tuple[str, int]]:  # type: ignore[type-arg]
    return [(s.step, s.octave) for s in symbols if isinstance(s, NoteSymbol)]


def test_a_staff_without_its_own_clef_reads_under_the_clef_carried_in() -> None:
    symbols = tokens_to_symbols(["pos:0", "dur:quarter", "chord", "pos:4", "bar"])  # decoded as treble
    assert _pitches(symbols) == [("E", 4), ("B", 4)]
    assert _pitches(written_pitches(symbols, BASS)) == [("G", 2), ("D", 3)]


def test_a_printed_clef_takes_over_from_the_carried_one() -> None:
    symbols = tokens_to_symbols(["pos:0", "dur:quarter", "clef:G2", "pos:0", "dur:quarter", "bar"])
    assert _pitches(written_pitches(symbols, BASS)) == [("G", 2), ("E", 4)]


def test_symbols_built_without_staff_positions_are_kept() -> None:
    note = NoteSymbol("C", 5, None, "quarter")
    assert written_pitches([note], BASS) == [note]
