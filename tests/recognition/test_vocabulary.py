import random

import pytest

from recognition import vocabulary as v
from recognition.symbols import (
    BarlineSymbol,
    ClefSymbol,
    KeySymbol,
    NoteSymbol,
    RestSymbol,
    StaffSymbol,
    TimeSymbol,
)


def test_token_ids_are_unique_and_stable_specials():
    assert len(set(v.TOKENS)) == len(v.TOKENS)
    assert v.TOKENS[:4] == ("<pad>", "<bos>", "<eos>", "<unk>")
    assert v.decode([*v.encode(["clef:G2", "pos:4", "dur:quarter"]), v.EOS_ID, v.TOKEN_IDS["bar"]]) == [
        "clef:G2",
        "pos:4",
        "dur:quarter",
    ]


@pytest.mark.parametrize(
    ("clef", "pitch", "position"),
    [
        (ClefSymbol("G", 2), ("E", 4), 0),
        (ClefSymbol("G", 2), ("F", 5), 8),
        (ClefSymbol("G", 2), ("C", 4), -2),
        (ClefSymbol("F", 4), ("G", 2), 0),
        (ClefSymbol("F", 4), ("A", 3), 8),
        (ClefSymbol("C", 3), ("F", 3), 0),
        (ClefSymbol("C", 4), ("D", 3), 0),
        (ClefSymbol("G", 2, -1), ("E", 3), 0),
    ],
)
def test_staff_positions_follow_the_clef(clef, pitch, position):
    step, octave = pitch
    assert v.staff_position(step, octave, clef) == position
    assert v.pitch_at(position, clef) == pitch


def test_a_bar_of_piano_music_reads_as_documented():
    symbols: list[StaffSymbol] = [
        ClefSymbol("G", 2),
        KeySymbol(-2),
        TimeSymbol(3, 4),
        NoteSymbol("B", 4, -1, "quarter", dots=1, tie_start=True),
        NoteSymbol("D", 5, None, "quarter", dots=1, chord=True),
        NoteSymbol("C", 5, 0, "eighth", tuplet=(3, 2)),
        RestSymbol("eighth", tuplet=(3, 2)),
        NoteSymbol("A", 4, None, "16th", grace=True),
        NoteSymbol("G", 4, None, "eighth", tuplet=(3, 2)),
        RestSymbol("quarter", voice=2),
        BarlineSymbol("final"),
    ]
    tokens = v.symbols_to_tokens(symbols)
    assert tokens == [
        "clef:G2", "key:-2", "time:3/4",
        "acc:b", "pos:4", "dur:quarter.", "tie", "chord", "pos:6",
        "acc:n", "pos:5", "dur:eighth", "tup:3/2", "rest:eighth", "tup:3/2",
        "grace", "pos:3", "dur:16th", "pos:2", "dur:eighth", "tup:3/2",
        "voice:2", "rest:quarter", "bar:final",
    ]  # fmt: skip
    assert v.tokens_to_symbols(tokens) == symbols


def random_staff(rng: random.Random) -> list[StaffSymbol]:
    clef = rng.choice(list(v.CLEFS.values()))
    out: list[StaffSymbol] = [clef, KeySymbol(rng.randint(-7, 7))]
    if rng.random() < 0.5:
        out.append(rng.choice([TimeSymbol(6, 8), TimeSymbol(4, 4, "common"), TimeSymbol(2, 2, "cut")]))
    for _ in range(rng.randint(1, 5)):
        for voice in sorted(rng.sample([1, 2, 3], rng.randint(1, 2))):
            for _ in range(rng.randint(1, 8)):
                note_type = rng.choice(v.NOTE_TYPES)
                dots = rng.randint(0, 2)
                tuplet = rng.choice([None, None, *v.TUPLETS])
                if rng.random() < 0.3:
                    out.append(RestSymbol(note_type, dots, tuplet, voice=voice))
                    continue
                grace = rng.random() < 0.1
                for k in range(rng.randint(1, 5)):
                    step, octave = v.pitch_at(rng.choice(v.POSITION_RANGE), clef)
                    out.append(
                        NoteSymbol(step, octave, rng.choice([None, None, -2, -1, 0, 1, 2]), note_type, dots,
                                   tuplet, grace, chord=k > 0, tie_start=rng.random() < 0.2, voice=voice)
                    )  # fmt: skip
        if rng.random() < 0.2:
            out.append(RestSymbol("whole", voice=1, full_measure=True))
        if rng.random() < 0.1:
            clef = rng.choice(list(v.CLEFS.values()))
            out.append(clef)
        out.append(BarlineSymbol(rng.choice(list(v.BARLINES.values()))))
    return out


@pytest.mark.parametrize("seed", range(200))
def test_symbols_tokens_symbols_round_trip(seed):
    symbols = random_staff(random.Random(seed))
    tokens = v.symbols_to_tokens(symbols)
    assert all(t in v.TOKEN_IDS for t in tokens)
    assert v.tokens_to_symbols(tokens) == symbols
    assert v.decode(v.encode(tokens)) == tokens


def test_confidence_is_the_lowest_token_probability():
    tokens = ["clef:F4", "acc:#", "pos:3", "dur:half", "tie", "rest:quarter"]
    symbols = v.tokens_to_symbols(tokens, [0.9, 0.5, 0.8, 0.7, 0.4, 0.95])
    note, rest = symbols[1], symbols[2]
    assert isinstance(note, NoteSymbol) and note.tie_start and note.accidental == 1
    assert note.confidence == 0.4
    assert isinstance(rest, RestSymbol) and rest.confidence == 0.95


def test_malformed_sequences_decode_without_failing():
    tokens = ["dur:quarter", "tie", "chord", "pos:2", "dur:eighth", "tup:3/2", "nonsense", "acc:#", "bar"]
    symbols = v.tokens_to_symbols(tokens)
    assert symbols == [NoteSymbol("G", 4, None, "eighth", tuplet=(3, 2)), BarlineSymbol()]


def test_unrepresentable_symbols_raise_a_clear_error():
    with pytest.raises(v.VocabularyError, match="time signature 17/4"):
        v.symbols_to_tokens([TimeSymbol(17, 4)])
    with pytest.raises(v.VocabularyError, match="too far from the staff"):
        v.symbols_to_tokens([NoteSymbol("C", 8, None, "quarter")])
