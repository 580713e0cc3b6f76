"""The export worker writes what the in-process export writes, says why when it cannot, and
writes nothing when the command ends without a score."""

from pathlib import Path

from etude_cli import export_worker
from ir.export import export_score
from tests.ir.factories import rich_score


def test_the_worker_writes_the_same_file_as_the_in_process_export(tmp_path: Path) -> None:
    score = rich_score()
    out = tmp_path / "deep" / "score.musicxml"
    worker = export_worker.start("musicxml", out)
    assert worker is not None
    assert worker.write(score.SerializeToString()) is None
    assert out.read_bytes() == export_score(score, "musicxml")[0]


def test_quick_formats_get_no_worker(tmp_path: Path) -> None:
    for fmt in ("midi", "json", "pb"):
        assert export_worker.start(fmt, tmp_path / "x") is None


def test_a_worker_that_cannot_write_says_why_in_one_line(tmp_path: Path) -> None:
    taken = tmp_path / "a-folder"
    taken.mkdir()
    worker = export_worker.start("musicxml", taken)
    assert worker is not None
    why = worker.write(rich_score().SerializeToString())
    assert why is not None and "\n" not in why and "Error" in why


def test_a_worker_closed_before_the_score_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "score.musicxml"
    worker = export_worker.start("musicxml", out)
    assert worker is not None
    worker.close()
    assert not out.exists()
    ended = export_worker.start("musicxml", out)
    assert ended is not None
    assert ended.write(b"") is not None  # stdin closed without a score: nothing is written
    assert not out.exists()
