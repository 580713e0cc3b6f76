"""Our note F1 against omr-bench's omrscore.py on the same small example."""

import importlib.util
import json
from pathlib import Path

import music21 as m21
import pytest

from training.evaluation.notes import load_measures, measures_of, score_measures

OMRSCORE = Path("/work/shared/omr-bench/omrscore.py")

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


@pytest.mark.skipif(not OMRSCORE.exists(), reason="omr-bench is not on this machine")
def test_same_figures_as_omrscore(tmp_path):
    spec = importlib.util.spec_from_file_location("omrscore", OMRSCORE)
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
