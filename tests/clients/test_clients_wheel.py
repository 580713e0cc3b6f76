"""What a user of the installed wheel (which ships no `training` package) sees."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Runs the CLI with `training` unimportable, as in a wheel's site-packages.
WITHOUT_TRAINING = """
import sys
from importlib.abc import MetaPathFinder

class NoTraining(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "training" or name.startswith("training."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoTraining())
from etude_cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def etude_without_training(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_TRAINING, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_eval_says_it_needs_the_training_code(tmp_path: Path) -> None:
    result = etude_without_training("eval", "--synthetic", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("etude eval: error: evaluation needs the training code")
    assert "uv sync --group training" in result.stderr and "Traceback" not in result.stderr
