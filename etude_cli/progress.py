"""What `etude transcribe` tells people on stderr while it works.

On a terminal: a rich progress bar (pages, notes, ETA) that replaces itself. Elsewhere (a pipe,
a log, a test): plain lines, one per page, with the seconds that page took (not a running
total). `--quiet` shows only errors; `--verbose` adds every warning and the timings of each
step. Page and measure numbers are for people: pages count from 1, measures are the score's.
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from etude.ir.v1 import score_pb2


class Level(IntEnum):
    QUIET = 0
    NORMAL = 1
    VERBOSE = 2


FIRST_WARNINGS = 3  # shown in full at the normal level; --verbose shows them all
# A fragment warning about one measure names it by its page-local index ("measure 3: ...").
_MEASURE_IN_MESSAGE = re.compile(r"^measure (\d+):\s*")


@dataclass
class Reporter:
    """Progress for one command run; `stream` is stderr unless a test says otherwise."""

    level: Level = Level.NORMAL
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    terminal: bool | None = None  # None: ask the stream
    started: float = field(default_factory=time.perf_counter)
    _bar: Any = None
    _task: Any = None
    _notes: int = 0
    _last: float = 0.0

    def __post_init__(self) -> None:
        if self.terminal is None:
            self.terminal = self.stream.isatty()

    def line(self, text: str) -> None:
        """A line people want unless they asked for quiet ("loading model …", "wrote …")."""
        if self.level >= Level.NORMAL:
            self._print(text)

    def detail(self, text: str) -> None:
        """A line for --verbose only: a step, with the seconds since the command started."""
        if self.level >= Level.VERBOSE:
            self._print(f"[{time.perf_counter() - self.started:5.2f} s] {text}")

    def loading(self, text: str) -> None:
        """The first thing said, at once: on a terminal a bar that says `text` until the pages
        start (it vanishes, so an error stays the only line); elsewhere a --verbose line, so
        that a script reading stderr still gets one line for one error."""
        if self.level >= Level.NORMAL and self.terminal:
            self._bar = _rich_bar(self.stream)
            self._bar.start()
            self._task = self._bar.add_task(text, total=None, notes=0)
        else:
            self.detail(text)

    def start_pages(self, label: str, total: int) -> None:
        """Recognition starts: `total` pages to read."""
        self._notes = 0
        self._last = time.perf_counter()
        if self.level >= Level.NORMAL and self.terminal:
            if self._bar is None:
                self.loading(label)
            self._bar.update(self._task, description=label, total=total, completed=0)

    def page(self, number: int, total: int, staves: int, notes: int) -> None:
        """Page `number` (1-based) is read; its seconds are the time since the previous one."""
        now = time.perf_counter()
        seconds, self._last = now - self._last, now
        self._notes += notes
        if self._bar is not None:
            self._bar.update(self._task, completed=number, notes=self._notes)
        elif self.level >= Level.NORMAL:
            self._print(f"page {number}/{total}: {staves} staves, {notes} notes ({seconds:.1f} s)")

    def end_pages(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def warnings(self, score: score_pb2.Score) -> None:
        """The score's warnings: a count by kind, then the first few (all with --verbose)."""
        if self.level < Level.NORMAL or not score.warnings:
            return
        shown = None if self.level >= Level.VERBOSE else FIRST_WARNINGS
        for text in warning_summary(score, shown):
            self._print(text)

    def _print(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text, highlight=False, markup=False)
        else:
            print(text, file=self.stream, flush=True)


def _rich_bar(stream: TextIO) -> Any:
    # rich is imported only on a terminal: a pipe or a log never pays for it.
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("pages, {task.fields[notes]} notes"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(file=stream),
        transient=True,
    )


def warning_summary(score: score_pb2.Score, first: int | None = FIRST_WARNINGS) -> list[str]:
    """Lines saying how many warnings of each kind the score has, then the first `first` of them
    (None: all) with their page (1-based) and, when a warning is about one measure, its number."""
    from etude.ir.v1 import score_pb2

    if not score.warnings:
        return []
    kinds = Counter(_kind(score_pb2.WarningCode.Name(w.code)) for w in score.warnings)
    counts = ", ".join(f"{count} {kind}" for kind, count in kinds.most_common())
    plural = "s" if len(score.warnings) > 1 else ""
    lines = [f"{len(score.warnings)} warning{plural}: {counts}"]
    listed = score.warnings if first is None else score.warnings[:first]
    numbers = _page_measure_numbers(score.measures)
    lines.extend(f"  {_where(w, numbers)}: {_MEASURE_IN_MESSAGE.sub('', w.message)}" for w in listed)
    if len(listed) < len(score.warnings):
        lines.append(f"  … and {len(score.warnings) - len(listed)} more (--verbose lists them all)")
    return lines


def _kind(code_name: str) -> str:
    kind = code_name.removeprefix("WARNING_CODE_").replace("_", " ").lower()
    return "other" if kind == "unspecified" else kind


def _page_measure_numbers(measures: Sequence[Any]) -> dict[int, list[str]]:
    """Each page's measure numbers, in page order (page-local index → the score's number)."""
    pages: dict[int, list[str]] = {}
    for measure in sorted(measures, key=lambda m: m.index):
        pages.setdefault(measure.page_index, []).append(measure.number)
    return pages


def _where(warning: Any, numbers: dict[int, list[str]]) -> str:
    where = f"page {warning.page_index + 1}"
    match = _MEASURE_IN_MESSAGE.match(warning.message)
    page_numbers = numbers.get(warning.page_index, [])
    if match is not None and int(match.group(1)) < len(page_numbers):
        where += f", measure {page_numbers[int(match.group(1))]}"
    return where
