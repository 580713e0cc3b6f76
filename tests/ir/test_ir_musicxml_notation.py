"""What the MusicXML writer engraves beyond the notes: printed accidentals, beams by beat (with
hooks), stems of beamed groups, tuplet brackets, and how voices and staves are joined
(`<backup>`, voice numbers). Expectations are what the music21 exporter it replaced wrote;
two property tests hold beams and accidentals to music21's own rules on random measures."""

from __future__ import annotations

import random
import subprocess
import sys
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any, cast
from xml.etree import ElementTree

import pytest

from ir.musicxml import to_musicxml
from ir.musicxml_accidentals import Item, Spelled, StaffAccidentals
from ir.musicxml_notation import BeamInput, beam_meter, beams
from tests.ir.factories import IrBuilder, StaffSpec, rich_score

ROOT = ElementTree.Element


def _root(builder: IrBuilder) -> ROOT:
    return ElementTree.fromstring(to_musicxml(builder.score()))


def _notes(root: ROOT, measure: int | None = None) -> list[ROOT]:
    measures = list(root.iter("measure"))
    chosen = measures if measure is None else [measures[measure - 1]]
    return [n for m in chosen for n in m.iter("note")]


def _pitched(root: ROOT, measure: int | None = None) -> list[ROOT]:
    return [n for n in _notes(root, measure) if n.find("pitch") is not None]


def _accidentals(root: ROOT, measure: int | None = None) -> list[tuple[str, str | None]]:
    """(step + octave, printed accidental) of each pitched note."""
    return [
        (f"{n.findtext('pitch/step')}{n.findtext('pitch/octave')}", n.findtext("accidental"))
        for n in _pitched(root, measure)
    ]


def _beams(root: ROOT, measure: int | None = None) -> list[tuple[str, ...]]:
    return [tuple(b.text or "" for b in n.findall("beam")) for n in _notes(root, measure)]


def _treble() -> IrBuilder:
    return IrBuilder(staves=[StaffSpec("G2")])


# ---- accidentals -----------------------------------------------------------------------------


def test_accidentals_follow_the_key_and_the_measure() -> None:
    b = IrBuilder(staves=[StaffSpec("G2")], fifths=1)  # G major: F sharp
    b.measure()
    b.note("F#4", at=0)  # in the key: no sign
    b.note("F4", at=1)  # against the key: a natural
    b.note("F4", at=2)  # repeated at once: no second natural
    b.note("F#4", at=3)  # back to the key's F sharp within the bar: the sharp
    b.measure()
    b.note("C#5", at=0, type="half")  # leaves the key: a sharp
    b.note("C5", at=2, type="half")  # cancels the sharp of this bar: a natural
    b.measure()
    b.note("D#5", at=0, type="whole")
    b.measure()
    b.note("D5", at=0, type="whole")  # a courtesy natural after last bar's D sharp
    root = _root(b)
    assert _accidentals(root, 1) == [("F4", None), ("F4", "natural"), ("F4", None), ("F4", "sharp")]
    assert _accidentals(root, 2) == [("C5", "sharp"), ("C5", "natural")]
    assert _accidentals(root, 4) == [("D5", "natural")]


def test_no_accidental_on_the_continuation_of_a_tie() -> None:
    b = _treble()
    b.measure()
    b.note("Bb4", at=2, type="half", tie_start=True)
    b.measure()
    b.note("Bb4", at=0, type="half", tie_stop=True)  # continues the tie: no flat
    b.note("Bb4", at=2, type="half")  # the first flat this bar shows: the flat is restated
    root = _root(b)
    assert _accidentals(root) == [("B4", "flat"), ("B4", None), ("B4", "flat")]


def test_a_tied_piece_of_a_long_note_shows_no_accidental() -> None:
    b = _treble()
    b.measure(time=(5, 4))
    long = b.note("G#4", at=0, type="whole")
    long.duration_beats.numerator, long.duration_beats.denominator = 5, 1  # a whole tied to a quarter
    root = _root(b)
    assert _accidentals(root) == [("G4", "sharp"), ("G4", None)]


def test_a_chord_with_a_step_twice_shows_both_signs() -> None:
    b = _treble()
    b.measure()
    b.chord(["F4", "F#4"], at=0, type="whole")
    assert _accidentals(_root(b)) == [("F4", "natural"), ("F4", "sharp")]


def test_two_voices_take_accidentals_in_time_order() -> None:
    """The voice-2 sharp on beat 1 shows; the voice-1 one on beat 3 follows it (music21, going
    voice by voice, had it the other way round: the first sharp heard had none)."""
    b = _treble()
    b.measure()
    b.note("A4", at=0, type="half")
    b.note("F#4", at=2, type="half")
    b.note("F#4", at=0, type="half", voice=2)
    b.note("D4", at=2, type="half", voice=2)
    root = _root(b)
    signs = {
        (n.findtext("voice"), n.findtext("pitch/step")): n.findtext("accidental") for n in _pitched(root)
    }
    assert signs[("2", "F")] == "sharp" and signs[("1", "F")] is None


def test_accidentals_are_decided_staff_by_staff() -> None:
    b = IrBuilder()
    b.measure()
    b.note("C#5", at=0, type="half")
    b.note("C5", at=2, type="half")
    b.note("C3", at=0, type="whole", staff=2)  # another staff: nothing to cancel
    root = _root(b)
    assert _accidentals(root) == [("C5", "sharp"), ("C5", "natural"), ("C3", None)]


def _music21_signs(fifths: int, bars: list[list[tuple[str, int, int, bool]]]) -> list[str | None]:
    """music21's makeAccidentalsInMeasureStream on one voice of bars of (step, alter, octave,
    tied to the next), as the exporter this replaced ran it."""
    from music21 import key, note, pitch, stream, tie
    from music21.stream import makeNotation

    part = stream.Part()
    notes: list[Any] = []
    for i, bar in enumerate(bars):
        measure = stream.Measure(number=i + 1)
        if i == 0:
            measure.insert(0, key.KeySignature(fifths))
        for step, alter, octave, tied in bar:
            n = note.Note(pitch.Pitch(step=cast(Any, step), octave=octave))
            if alter:
                n.pitch.accidental = pitch.Accidental(alter)
            if tied:
                n.tie = tie.Tie("start")
            measure.append(n)
            notes.append(n)
        part.append(measure)
    makeNotation.makeAccidentalsInMeasureStream(part)
    signs = []
    for n in notes:
        accidental = n.pitch.accidental
        shown = accidental is not None and accidental.displayStatus in (True, None)
        signs.append({-2: "flat-flat", -1: "flat", 0: "natural", 1: "sharp", 2: "double-sharp"}[
            int(accidental.alter)] if shown else None)  # fmt: skip
    return signs


def test_accidentals_are_music21s_on_random_single_voice_measures() -> None:
    rng = random.Random(7)
    for _ in range(150):
        fifths = rng.randint(-7, 7)
        bars = [
            [
                (
                    rng.choice("CDEFGAB"),
                    rng.choice([-1, 0, 0, 1, rng.choice([-2, 2])]),
                    rng.choice([4, 5]),
                    rng.random() < 0.2,
                )
                for _ in range(rng.randint(1, 6))
            ]
            for _ in range(3)
        ]
        state = StaffAccidentals()
        ours: list[str | None] = []
        for i, bar in enumerate(bars):
            spelled = [Spelled(s, a, o, tie_starts=t) for s, a, o, t in bar]
            state.measure(fifths, i == 0, [Item(Fraction(j), 1, False, (p,)) for j, p in enumerate(spelled)])
            ours += [p.printed for p in spelled]
        assert ours == _music21_signs(fifths, bars), (fifths, bars)


# ---- beams, stems, tuplets -------------------------------------------------------------------


def test_eighths_are_beamed_by_the_beat() -> None:
    b = _treble()
    b.measure()
    for i in range(8):
        b.note("C5", at=Fraction(i, 2), type="eighth")
    assert _beams(_root(b)) == [("begin",), ("end",)] * 4


def test_six_eight_is_beamed_by_dotted_quarters() -> None:
    b = IrBuilder(staves=[StaffSpec("G2")], time=(6, 8))
    b.measure()
    for i in range(6):
        b.note("C5", at=Fraction(i, 2), type="eighth")
    b.measure()
    b.note("C5", at=0, type="quarter")  # a quarter and an eighth: nothing to beam in that beat
    b.note("D5", at=1, type="eighth")
    b.note("E5", at="3/2", type="eighth", dots=1)  # dotted eighth, sixteenth, eighth
    b.note("F5", at="9/4", type="16th")
    b.note("G5", at="5/2", type="eighth")
    root = _root(b)
    assert _beams(root, 1) == [("begin",), ("continue",), ("end",)] * 2
    # music21's hook points on, to the eighth that ends the beat
    assert _beams(root, 2) == [(), (), ("begin",), ("continue", "forward hook"), ("end",)]


def test_sixteenths_get_hooks_and_second_beams_break_at_the_eighth() -> None:
    b = _treble()
    b.measure(time=(2, 4))
    b.note("C5", at=0, type="eighth", dots=1)  # dotted eighth + sixteenth
    b.note("D5", at="3/4", type="16th")
    b.note("E5", at=1, type="16th")  # sixteenth + dotted eighth
    b.note("F5", at="5/4", type="eighth", dots=1)
    b.measure(time=(2, 4))
    for i in range(4):  # four sixteenths: music21 broke the second beam in the middle
        b.note("C5", at=Fraction(i, 4), type="16th")
    b.note("C5", at=1, type="quarter")
    root = _root(b)
    assert _beams(root, 1) == [
        ("begin",),
        ("end", "backward hook"),
        ("begin", "forward hook"),
        ("end",),
    ]
    assert _beams(root, 2) == [
        ("begin", "begin"),
        ("continue", "end"),
        ("continue", "begin"),
        ("end", "end"),
        (),
    ]


def test_rests_and_beats_break_beams_and_a_pickup_is_beamed_from_the_bar_end() -> None:
    b = _treble()
    b.measure(duration=Fraction(3, 2))  # a pickup of three eighths: the last two share beat 4
    for i in range(3):
        b.note("C5", at=Fraction(i, 2), type="eighth")
    b.measure()
    b.note("C5", at=0, type="eighth")
    b.rest(at="1/2", type="eighth")
    b.note("D5", at=1, type="eighth")
    b.note("E5", at="3/2", type="eighth")
    b.note("F5", at=2, type="half")
    root = _root(b)
    assert _beams(root, 1) == [(), ("begin",), ("end",)]
    assert _beams(root, 2) == [(), (), ("begin",), ("end",), ()]


def test_an_overfull_bar_is_beamed_as_if_the_bar_repeated() -> None:
    b = _treble()
    b.measure(duration=Fraction(6))  # 4/4 with six quarters' worth (a missed barline)
    for i in range(12):
        b.note("C5", at=Fraction(i, 2), type="eighth")
    root = _root(b)
    assert _beams(root) == [("begin",), ("end",)] * 6
    assert [(m.get("number"), t.findtext("beats")) for m in root.iter("measure") for t in m.iter("time")] == [
        ("1", "4")
    ]


def test_beamed_groups_share_one_stem_direction() -> None:
    b = _treble()
    b.measure(time=(2, 4))
    b.note("G4", at=0, type="eighth")  # below the middle line: up
    b.note("A4", at="1/2", type="eighth")
    b.note("D5", at=1, type="eighth")  # on and above it: down
    b.note("F5", at="3/2", type="eighth")
    b.measure(time=(2, 4))
    b.note("F5", at=0, type="eighth", voice=1)  # two voices: up in the first, down in the second
    b.note("G5", at="1/2", type="eighth", voice=1)
    b.note("C5", at=1, type="quarter", voice=1)
    b.note("A4", at=0, type="eighth", voice=2)
    b.note("B4", at="1/2", type="eighth", voice=2)
    b.note("G4", at=1, type="quarter", voice=2)
    root = _root(b)
    assert [n.findtext("stem") for n in _notes(root, 1)] == ["up", "up", "down", "down"]
    stems = [(n.findtext("voice"), n.findtext("stem")) for n in _notes(root, 2)]
    assert stems == [("1", "up"), ("1", "up"), ("1", None), ("2", "down"), ("2", "down"), ("2", None)]


def _music21_beams(time: str, elements: list[tuple[Fraction, str, bool]]) -> list[tuple[str, ...]]:
    from music21 import duration, meter, note, stream

    names = {"start": "begin", "continue": "continue", "stop": "end"}
    measure = stream.Measure()
    for length, type_name, rest in elements:
        d = duration.Duration(
            type=type_name, dots=1 if length > duration.Duration(type_name).quarterLength else 0
        )
        measure.append(note.Rest(duration=d) if rest else note.Note("C5", duration=d))
    found = meter.TimeSignature(time).getBeams(measure.notesAndRests.stream(), measureStartOffset=0)
    return [
        ()
        if b is None
        else tuple(
            names.get(x.type) or ("forward hook" if x.direction == "right" else "backward hook")
            for x in b.beamsList
        )
        for b in found
    ]


@pytest.mark.parametrize("time", ["2/4", "3/4", "4/4", "6/8", "9/8", "3/8", "2/2", "5/4", "7/8", "12/16"])
def test_beams_are_music21s_on_random_rhythms(time: str) -> None:
    """Random bars of eighths to 64ths (some dotted), rests and quarters, in full bars."""
    rng = random.Random(time)
    numerator, denominator = map(int, time.split("/"))
    meter = beam_meter(numerator, denominator)
    assert meter is not None
    values = [
        (Fraction(1, 2), "eighth"),
        (Fraction(1, 4), "16th"),
        (Fraction(1, 8), "32nd"),
        (Fraction(1, 16), "64th"),
    ]
    for _ in range(40):
        elements: list[tuple[Fraction, str, bool]] = []
        total = Fraction(0)
        while total < meter.bar:
            length, type_name = rng.choice([*values, (Fraction(1), "quarter")])
            if rng.random() < 0.2 and type_name != "64th":
                length *= Fraction(3, 2)  # dotted
            if total + length > meter.bar:
                length, type_name = meter.bar - total, ""
                if length not in (v for v, _ in values):
                    break
                type_name = dict((v, t) for v, t in values)[length]
            elements.append((length, type_name, rng.random() < 0.1))
            total += length
        if total != meter.bar:
            continue
        offsets = [sum((e[0] for e in elements[:i]), Fraction(0)) for i in range(len(elements))]
        counts = {"eighth": 1, "16th": 2, "32nd": 3, "64th": 4, "quarter": 0}
        inputs = [
            BeamInput(o, length, 0 if rest else counts[t])
            for o, (length, t, rest) in zip(offsets, elements, strict=True)
        ]
        ours = beams(inputs, meter, start=Fraction(0), last_stops=True)
        assert ours == _music21_beams(time, elements), elements


def test_tuplets_get_brackets_from_their_first_note_to_the_one_completing_them() -> None:
    b = _treble()
    b.measure()
    for i in range(3):
        b.note("E5", at=Fraction(i, 3), type="eighth", tuplet=(3, 2))
    for i in range(3):
        b.note("G5", at=1 + Fraction(2 * i, 3), type="quarter", tuplet=(3, 2))
    b.note("D5", at=3, type="quarter", dots=1, tuplet=(3, 2))  # alone: a number, no bracket
    root = _root(b)
    notes = _notes(root)
    marks = [tuple((t.get("type"), t.get("bracket")) for t in n.iter("tuplet")) for n in notes]
    assert marks == [
        (("start", "yes"),),
        (),
        (("stop", None),),
        (("start", "yes"),),
        (),
        (("stop", None),),
        (("start", "no"), ("stop", None)),
    ]
    modification = notes[0].find("time-modification")
    assert modification is not None
    assert [modification.findtext(t) for t in ("actual-notes", "normal-notes", "normal-type")] == [
        "3",
        "2",
        "eighth",
    ]
    assert _beams(root)[:3] == [("begin",), ("continue",), ("end",)]


# ---- voices, staves, divisions ---------------------------------------------------------------


def _timeline(measure: ROOT, divisions: int) -> list[tuple[str, str, Fraction, Fraction]]:
    """(staff, voice, onset, duration) of each note and rest, following <backup> and <forward>."""
    position = Fraction(0)
    events = []
    for element in measure:
        duration = Fraction(int(element.findtext("duration") or 0), divisions)
        if element.tag == "backup":
            position -= duration
        elif element.tag == "forward":
            position += duration
        elif element.tag == "note" and element.find("chord") is None:
            events.append(
                (element.findtext("staff") or "1", element.findtext("voice") or "", position, duration)
            )
            position += duration
    return events


def test_a_grand_staff_is_one_part_whose_staves_and_voices_are_joined_by_backups() -> None:
    root = ElementTree.fromstring(to_musicxml(rich_score()))
    (part,) = root.findall("part")
    divisions = int(root.findtext(".//divisions") or 0)
    assert divisions > 0 and root.findtext(".//staves") == "2"
    measure = part.findall("measure")[1]  # staff 1: one voice; staff 2: two voices
    backups = [int(b.findtext("duration") or 0) for b in measure.findall("backup")]
    assert backups == [4 * divisions, 4 * divisions]
    timeline = _timeline(measure, divisions)
    voices = {(staff, voice) for staff, voice, _, _ in timeline}
    assert voices == {("1", "1"), ("2", "2"), ("2", "3")}  # no voice number on two staves
    for staff, voice in voices:  # every voice fills the bar from its start, without gaps
        run = [(onset, length) for s, v, onset, length in timeline if (s, v) == (staff, voice)]
        assert run[0][0] == 0 and sum(length for _, length in run) == 4
        assert all(a[0] + a[1] == b[0] for a, b in pairwise(run))


def test_voice_numbers_stay_the_same_from_measure_to_measure() -> None:
    b = IrBuilder()
    b.measure()
    b.note("C5", at=0, type="whole")
    b.note("E4", at=0, type="whole", voice=2)
    b.note("C3", at=0, type="whole", staff=2)
    b.measure()
    b.note("C5", at=0, type="whole")
    b.note("C3", at=0, type="whole", staff=2)
    root = _root(b)
    per_measure = [
        sorted({(n.findtext("staff"), n.findtext("voice")) for n in m.iter("note")})
        for m in root.iter("measure")
    ]
    assert per_measure == [[("1", "1"), ("1", "2"), ("2", "3")], [("1", "1"), ("2", "3")]]


def test_divisions_count_every_duration_exactly() -> None:
    b = _treble()
    b.measure()
    for i in range(5):
        b.note("C5", at=Fraction(i, 5), type="16th", tuplet=(5, 4))
    b.note("D5", at=1, type="half", dots=1)
    root = _root(b)
    divisions = int(root.findtext(".//divisions") or 0)
    assert divisions == 5  # quintuplet sixteenths: a fifth of a quarter each
    assert [int(n.findtext("duration") or 0) for n in _notes(root)] == [1] * 5 + [15]


def test_the_export_path_does_not_import_music21() -> None:
    code = (
        "import sys\n"
        "from tests.ir.factories import rich_score\n"
        "from ir.export import to_musicxml, to_mxl\n"
        "to_musicxml(rich_score()); to_mxl(rich_score())\n"
        "print('music21' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert result.stdout.strip() == "False"
