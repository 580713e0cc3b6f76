"""`etude eval --synthetic`: symbol error rate of the committed model on a shard of staves."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recognition.manifest import default_model_dir
from recognition.recognizer import StaffRecognizer
from tests.example_staves import example_staves
from training.data.shards import write_shard

MODEL_DIR = default_model_dir()
pytestmark = pytest.mark.skipif(not (MODEL_DIR / "manifest.json").exists(), reason="no committed model")


def etude_eval(*args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "etude_cli.main", "eval", *args], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> tuple[Path, Path]:
    """Two shards of the example's first staves: labelled with the model's own greedy reading
    (SER 0 by construction), and with that reading's first bar dropped."""
    images = [(crop * 255).round().astype(np.uint8) for crop in example_staves()[:4]]
    readings = StaffRecognizer.load(MODEL_DIR).recognize([i.astype(np.float32) / 255 for i in images])
    own, cut = tmp_path_factory.mktemp("own"), tmp_path_factory.mktemp("cut")
    labelled = [(i, r.tokens, "example") for i, r in zip(images, readings, strict=True)]
    write_shard(own / "shard-0.npz", labelled)
    shortened = [(i, tokens[tokens.index("bar") + 1 :], kind) for i, tokens, kind in labelled]
    write_shard(cut / "shard-0.npz", shortened)
    return own, cut


def test_own_greedy_readings_score_zero_and_edits_are_counted(shards):
    own, cut = shards
    exact = etude_eval("--synthetic", str(own), "--reread-beams", "0")
    assert exact["reread_beams"] == 0
    assert exact["synthetic_ser"]["all"] == {"ser": 0.0, "staves": 4, "exact_staves": 1.0}
    edited = etude_eval("--synthetic", str(cut), "--reread-beams", "0")["synthetic_ser"]["example"]
    assert edited["ser"] > 0.1 and edited["exact_staves"] == 0.0


def test_decoding_follows_the_server_setting_by_default(shards, monkeypatch):
    own, _ = shards
    monkeypatch.delenv("ETUDE_OMR_REREAD_BEAMS", raising=False)
    assert etude_eval("--synthetic", str(own))["reread_beams"] == 4
    monkeypatch.setenv("ETUDE_OMR_REREAD_BEAMS", "2")
    figures = etude_eval("--synthetic", str(own))
    assert figures["reread_beams"] == 2
    assert figures["synthetic_ser"]["all"]["staves"] == 4
