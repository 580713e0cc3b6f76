"""The error analysis gives each lost notehead one cause, on measures it builds itself."""

from training.evaluation.errors import classify, filled_pairs


def test_each_lost_notehead_gets_its_cause() -> None:
    truth = [
        [("0", 60), ("0", 64), ("0", 67), ("1", 62)],  # a chord, then a note
        [("0", 48), ("1/2", 50)],
        [("0", 40)],
        [("0", 72)],
    ]
    result = [
        [("0", 60), ("0", 64), ("1", 63)],  # chord tone 67 missed, 62 read as 63
        [("0", 60), ("1", 50), ("2", 55)],  # 48 an octave off, 50 at the wrong onset, one extra
        [("0", 40)],
    ]  # the last measure is lost
    assert filled_pairs(truth, result) == [(0, 0), (1, 1), (2, 2)]
    causes, examples = classify(truth, result)
    assert causes == {
        "chord tone missed": 1,
        "pitch: semitone": 1,
        "pitch: octave": 1,
        "onset": 1,
        "extra": 1,
        "measure lost": 1,
    }
    assert ("measure lost", 4, ("0", 72)) in examples


def test_unequal_gaps_stay_lost() -> None:
    truth = [[("0", 60)], [("0", 61)], [("0", 62)], [("0", 64)]]
    result = [[("0", 60)], [("0", 70)], [("0", 64)]]
    assert filled_pairs(truth, result) == [(0, 0), (3, 2)]
