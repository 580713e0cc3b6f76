"""The real-scan aligner on small inputs it builds itself: kern layout marks, system pairing,
truth labels of a measure span, and the yield reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.data.scans import (
    KernMovement,
    ReadStaff,
    ReadSystem,
    align_movement,
    align_systems,
    read_kern,
    system_starts,
    truth_tokens,
)

# Two staves (lower spine first, as kern writes them), a pickup, a line break before measure 3,
# a page break in the middle of measure 4 (so the next system starts at measure 5).
KERN = """**kern\t**kern
*staff2\t*staff1
*clefF4\t*clefG2
*k[f#]\t*k[f#]
*M2/4\t*M2/4
4G\t4g
=1\t=1
2G\t4a
.\t4b
=2\t=2
2D\t2cc
!!LO:LB:g=original
=3\t=3
2G\t2dd
=4\t=4
4D\t4ee
!!LO:PB:g=original
4G\t4dd
=5\t=5
2D\t2cc
=6\t=6
2G\t2b
==\t==
*-\t*-
"""


def kern_movement(tmp_path: Path) -> KernMovement:
    path = tmp_path / "piece.krn"
    path.write_text(KERN)
    return read_kern(path)


def test_system_starts_follow_the_editions_breaks() -> None:
    # measures: 0 pickup, 1, 2 | 3, 4 (break inside: next system from 5) | 5, 6
    assert system_starts(KERN) == [0, 3, 5]


def test_read_kern_gives_top_staff_first_and_spans(tmp_path: Path) -> None:
    movement = kern_movement(tmp_path)
    assert movement.measure_count == 7
    assert [list(s) for s in movement.system_spans()] == [[0, 1, 2], [3, 4], [5, 6]]
    upper = truth_tokens(movement, 0, range(3, 5))
    lower = truth_tokens(movement, 1, range(3, 5))
    assert upper is not None and lower is not None
    # a system prints its clef and key; the time signature only where the kern has one
    assert upper[:2] == ["clef:G2", "key:1"] and not any(t.startswith("time:") for t in upper)
    assert lower[:2] == ["clef:F4", "key:1"]
    assert upper.count("bar") == 2
    first = truth_tokens(movement, 0, range(0, 3))
    assert first is not None and first[2] == "time:2/4"
    assert first[-1] == "bar"
    last = truth_tokens(movement, 0, range(5, 7))
    assert last is not None and last[-1] == "bar:final"


def test_align_systems_pairs_in_order_and_skips_strangers() -> None:
    # read system 0 is a neighbouring movement's; truth system 1 was not detected
    cost: list[list[float | None]] = [
        [0.9, 0.95, 0.9],
        [0.1, 0.8, 0.9],
        [0.9, 0.85, 0.2],
    ]
    assert align_systems(cost) == [(1, 0), (2, 2)]
    assert align_systems([[None, 0.3]]) == [(0, 1)]


def test_align_movement_keeps_close_readings_with_truth_labels(tmp_path: Path) -> None:
    movement = kern_movement(tmp_path)
    spans = movement.system_spans()
    truths = [[truth_tokens(movement, p, span) for p in range(2)] for span in spans]
    crop = np.zeros((96, 40), np.uint8)

    def system(index: int, upper: list[str], lower: list[str]) -> ReadSystem:
        return ReadSystem(0, index, [ReadStaff(crop, upper), ReadStaff(crop, lower)])

    t0, t1, t2 = (t for t in truths)
    assert all(x is not None for pair in truths for x in pair)
    # barlines and notes misread: too far from the truth to trust the bar count
    misread = [tok for tok in t1[0] if tok not in ("bar", "dur:half")]  # type: ignore[union-attr]
    systems = [
        system(0, t0[0], t0[1]),  # type: ignore[arg-type]
        system(1, misread, t1[1]),  # type: ignore[arg-type]
        system(2, ["clef:G2"], t2[1]),  # type: ignore[arg-type]
    ]
    result = align_movement("test", "piece", movement, systems)
    kept = [(k.source["system"], k.source["staff"]) for k in result.kept]
    assert (1, 1) in kept and (1, 2) in kept and (2, 2) in kept
    assert (2, 1) not in kept and result.reasons["bar count differs"] == 2  # and (3, 1)
    assert (3, 1) not in kept  # a reading nothing like the truth (no barline either)
    assert result.kept[0].tokens == t0[0]  # labels are the truth, not the reading
    assert result.reasons["kept"] == len(result.kept)
    assert sum(v for k, v in result.reasons.items() if k != "kern systems outside the vocabulary") == 6


def test_a_key_change_after_an_unnumbered_barline_reaches_its_measure(tmp_path: Path) -> None:
    kern = "**kern\n*clefG2\n*k[]\n*M2/4\n=1\n2c\n=||\n*k[f#c#]\n!!LO:LB:g=original\n2d\n=3\n2e\n==\n*-\n"
    path = tmp_path / "change.krn"
    path.write_text(kern)
    movement = read_kern(path)
    (second,) = [span for span in movement.system_spans() if span.start > 0]
    tokens = truth_tokens(movement, 0, second)
    assert tokens is not None and tokens[:2] == ["clef:G2", "key:2"]
