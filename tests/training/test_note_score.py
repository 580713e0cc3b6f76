"""Our note F1 against omr-bench's omrscore.py on the same small example."""

import importlib.util
import json
from pathlib import Path

import music21 as m21
import pytest

from training.evaluation.notes import load_measures, measures_of, score_measures
from training.shared import shared_dir


def omrscore_path() -> Path:
    """omr-bench's scorer in the shared folder; skips, saying what is missing, without it."""
    try:
        return shared_dir() / "omr-bench" / "omrscore.py"
    except SystemExit as missing:
        pytest.skip(str(missing))


TRUTH = """tinyNotation: 4/4 c4 d4 e4 f4 g2 a4 b4 c'1 d'4 e'4 f'2"""
# one measure dropped, one pitch wrong, one rhythm changed
RESULT = """tinyNotation: 4/4 c4 d4 e4 f#4 c'1 d'4 e'8 e'8 f'2"""


def parse(text: str) -> m21.stream.Score:
    part = m21.converter.parse(text)
    score = m21.stream.Score()
    score.insert(0, part)
    return score


def test_figures_by_hand():
    truth, result = measures_of(parse(TRUTH)), measures_of(parse(RESULT))
    figures = score_measures(truth, result)
    # truth: 4 + 3 + 1 + 3 = 11 noteheads; result 4 + 1 + 4 = 9; shared: c d e | c' | d' e' f' = 7
    # (the second e' of the result sits on offset 1.5, unmatched; f# differs in pitch)
    assert figures["note"].figures()["matched"] == 7
    assert figures["pitch"].figures()["matched"] == 7
    assert (figures["note"].truth, figures["note"].result) == (11, 9)


def test_same_figures_as_omrscore(tmp_path):
    omrscore_file = omrscore_path()
    if not omrscore_file.exists():
        pytest.skip(f"omr-bench is not in the shared folder ({omrscore_file} not found)")
    spec = importlib.util.spec_from_file_location("omrscore", omrscore_file)
    assert spec and spec.loader
    omrscore = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(omrscore)
    truth_score, result_score = parse(TRUTH), parse(RESULT)
    theirs = omrscore.score(omrscore.measures_of(truth_score), omrscore.measures_of(result_score))
    ours = score_measures(measures_of(truth_score), measures_of(result_score))
    for kind in ("note", "pitch"):
        mine = ours[kind].figures()
        assert {k: mine[k] for k in ("matched", "gt", "out", "f1")} == {
            k: theirs[kind][k] for k in ("matched", "gt", "out", "f1")
        }
    # and the ground-truth file format of make_cases.py reads back the same
    gt = tmp_path / "case.gt.json"
    gt.write_text(json.dumps({"measures": omrscore.measures_of(truth_score)}))
    assert load_measures(gt) == measures_of(truth_score)
