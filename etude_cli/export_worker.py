"""Write the score from a process that imports its writer while the pages are being read.

MusicXML goes through music21, whose import takes about as long as reading the bundled example:
done after the last page, it doubled the wall time of `etude transcribe`. A thread cannot hide
it (the GIL: on 2 cores an import thread slowed the pages by more than it saved,
docs/benchmarks.md); a second process can, on the other core. It starts with the command,
imports the writer, then waits on stdin for the score (serialised protobuf) and writes the
file. If it fails, the caller writes the file itself: an export never depends on this process.

    python -m etude_cli.export_worker FORMAT OUTPUT < score.pb
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Formats whose writer is slow to import; the others are written in-process at once.
SLOW_IMPORTS = frozenset({"musicxml", "mxl"})
TIMEOUT_S = 120.0


class ExportWorker:
    """A started worker for one score file; `write` hands it the score."""

    def __init__(self, fmt: str, output: Path) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "etude_cli.export_worker", fmt, str(output)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def write(self, score_bytes: bytes) -> str | None:
        """Send the score and wait for the file: None when written, else why not (one line)."""
        try:
            _, err = self._process.communicate(score_bytes, timeout=TIMEOUT_S)
        except (subprocess.TimeoutExpired, OSError) as error:
            self.close()
            return f"export worker: {type(error).__name__}"
        if self._process.returncode != 0:
            lines = err.decode(errors="replace").strip().splitlines()
            return lines[-1] if lines else f"export worker exited with {self._process.returncode}"
        return None

    def close(self) -> None:
        """Stop the worker if it is still running (the command failed before writing)."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()


def start(fmt: str, output: Path) -> ExportWorker | None:
    """A worker for `fmt` when its writer is slow to import; None when writing in-process is
    as quick, or when no process can be started."""
    if fmt not in SLOW_IMPORTS:
        return None
    try:
        return ExportWorker(fmt, output)
    except OSError:
        return None


def main(argv: list[str]) -> int:
    fmt, output = argv[0], Path(argv[1])
    from etude.ir.v1 import score_pb2

    from ir.export import export_score, warm_up

    warm_up(fmt)
    data = sys.stdin.buffer.read()
    if not data:  # the command ended without a score (it failed or was stopped): write nothing
        return 1
    score = score_pb2.Score()
    score.ParseFromString(data)
    written, _ = export_score(score, fmt)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(written)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Exception as error:  # one line for the caller, which then writes the file itself
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
