"""`etude bench cli`: time `etude transcribe` from the outside, as people meet it.

Each run is a new process (`python -m etude_cli.main transcribe PDF -o OUT -v`) whose stderr
lines are stamped as they arrive. The figures: the first line, the first page line, the wall
time to exit, and the recognition time (from the "reading pages" line, printed once the header
is in, to the last page line) with the ratio of wall to recognition time.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

TARGETS = (
    "targets on an idle machine: first line ≤ 0.5 s, first page ≤ 2 s, wall ≤ 4 s and ≤ 1.5× recognition"
)


@dataclass(frozen=True)
class CliRun:
    first_line: float
    first_page: float
    recognition: float
    wall: float
    code: int

    @property
    def ratio(self) -> float:
        return self.wall / self.recognition if self.recognition > 0 else float("inf")


def bench_cli(pdf: Path, runs: int, fmt: str) -> int:
    if not pdf.is_file():
        print(f"etude bench cli: error: {pdf}: no such file", file=sys.stderr)
        return 1
    results: list[CliRun] = []
    for number in range(1, max(runs, 1) + 1):
        result = time_transcribe(pdf, fmt)
        if result.code != 0:
            print(
                f"etude bench cli: error: run {number}: etude transcribe exited {result.code}",
                file=sys.stderr,
            )
            return 1
        results.append(result)
        print(f"run {number}: {_describe(result)}")
    if len(results) > 1:
        medians = CliRun(
            statistics.median(r.first_line for r in results),
            statistics.median(r.first_page for r in results),
            statistics.median(r.recognition for r in results),
            statistics.median(r.wall for r in results),
            0,
        )
        print(f"median: {_describe(medians)}")
    print(TARGETS)
    return 0


def _describe(run: CliRun) -> str:
    return (
        f"first line {run.first_line:.2f} s, first page {run.first_page:.2f} s, "
        f"wall {run.wall:.2f} s, recognition {run.recognition:.2f} s ({run.ratio:.2f}× recognition)"
    )


def time_transcribe(pdf: Path, fmt: str) -> CliRun:
    """One `etude transcribe` run, its stderr lines stamped with seconds since it started."""
    from ir.export import FORMATS

    with tempfile.TemporaryDirectory(prefix="etude-bench-cli-") as folder:
        out = Path(folder) / f"score{FORMATS[fmt].suffix}"
        command = [sys.executable, "-m", "etude_cli.main", "transcribe", str(pdf), "-o", str(out), "-v"]
        started = time.perf_counter()
        process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        lines: list[tuple[float, str]] = []
        # Read in a thread: the PDF forkserver keeps stderr open a moment after the command exits,
        # and the wall time is the command's.
        reader = threading.Thread(target=_stamp_lines, args=(process, started, lines), daemon=True)
        reader.start()
        code = process.wait()
        wall = time.perf_counter() - started
        reader.join(timeout=5)
    return _figures(lines, wall, code)


def _stamp_lines(process: subprocess.Popen[str], started: float, lines: list[tuple[float, str]]) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        lines.append((time.perf_counter() - started, line.rstrip("\n")))


def _figures(lines: list[tuple[float, str]], wall: float, code: int) -> CliRun:
    pages = [at for at, text in lines if text.startswith("page ")]
    header = next((at for at, text in lines if "reading pages" in text), 0.0)
    first_line = lines[0][0] if lines else wall
    first_page = pages[0] if pages else wall
    recognition = pages[-1] - header if pages and header else 0.0
    return CliRun(first_line, first_page, recognition, wall, code)
