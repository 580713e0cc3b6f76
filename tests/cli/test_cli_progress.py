"""`etude transcribe`'s progress: plain lines off a terminal, per-page seconds, quiet and verbose,
a warning summary with 1-based pages and the score's measure numbers; start-up helpers."""

from __future__ import annotations

import io
import re

from etude.ir.v1 import events_pb2, score_pb2

from etude_cli.bench_cli import _figures
from etude_cli.progress import Level, Reporter, warning_summary


def _reporter(level: Level = Level.NORMAL) -> tuple[Reporter, io.StringIO]:
    stream = io.StringIO()  # not a terminal: plain lines
    return Reporter(level, stream), stream


def test_plain_lines_per_page_with_seconds_of_that_page() -> None:
    reporter, stream = _reporter()
    reporter.loading("a.pdf: loading model …")  # a --verbose line off a terminal
    reporter.start_pages("a.pdf", 2)
    reporter.page(1, 2, 10, 300)
    reporter.page(2, 2, 4, 71)
    reporter.end_pages()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert re.fullmatch(r"page 1/2: 10 staves, 300 notes \(\d+\.\d s\)", lines[0])
    assert lines[1].startswith("page 2/2: 4 staves, 71 notes (")
    assert "\x1b" not in stream.getvalue()  # no terminal control codes in a log


def test_quiet_says_nothing_and_verbose_adds_timed_steps() -> None:
    quiet, quiet_stream = _reporter(Level.QUIET)
    quiet.loading("loading model …")
    quiet.start_pages("a.pdf", 1)
    quiet.page(1, 1, 3, 9)
    quiet.line("wrote x")
    assert quiet_stream.getvalue() == ""
    verbose, verbose_stream = _reporter(Level.VERBOSE)
    verbose.loading("a.pdf: loading model …")
    verbose.detail("document checked")
    lines = verbose_stream.getvalue().splitlines()
    assert re.fullmatch(r"\[ *\d+\.\d\d s\] a\.pdf: loading model …", lines[0]), lines
    assert lines[1].endswith("] document checked")


def _score_with_warnings() -> score_pb2.Score:
    score = score_pb2.Score()
    for index, (page, number) in enumerate([(0, "1"), (0, "2"), (1, "3"), (1, "4"), (1, "5")]):
        score.measures.append(events_pb2.Measure(index=index, page_index=page, number=number))
    duration, mismatch = score_pb2.WARNING_CODE_MEASURE_DURATION, score_pb2.WARNING_CODE_MEASURE_MISMATCH
    score.warnings.add(code=duration, message="measure 2: content (5 beats) too long", page_index=1)
    for system in range(4):
        score.warnings.add(code=mismatch, message=f"system {system}: staves disagree", page_index=0)
    score.warnings.add(message="tie left open", page_index=1)
    return score


def test_warning_summary_counts_by_kind_and_names_page_and_measure() -> None:
    lines = warning_summary(_score_with_warnings(), first=3)
    assert lines[0] == "6 warnings: 4 measure mismatch, 1 measure duration, 1 other"
    # Page 1 of the score (index 1) holds measures 3-5; its page-local measure 2 is measure 5.
    assert lines[1] == "  page 2, measure 5: content (5 beats) too long"
    assert lines[2] == "  page 1: system 0: staves disagree"
    assert len(lines) == 5 and lines[-1].startswith("  … and 3 more")
    assert len(warning_summary(_score_with_warnings(), first=None)) == 7


def test_reporter_prints_the_summary_unless_quiet() -> None:
    reporter, stream = _reporter()
    reporter.warnings(_score_with_warnings())
    assert stream.getvalue().startswith("6 warnings:")
    quiet, quiet_stream = _reporter(Level.QUIET)
    quiet.warnings(_score_with_warnings())
    assert quiet_stream.getvalue() == ""


def test_bench_cli_figures_from_stamped_lines() -> None:
    lines = [(0.2, "[ 0.10 s] a.pdf: loading model …"), (1.5, "[ 1.40 s] reading pages 1-2 of 2")]
    lines += [(2.0, "page 1/2: ..."), (2.6, "page 2/2: ..."), (2.9, "wrote x")]
    run = _figures(lines, 3.0, 0)
    assert (run.first_line, run.first_page, run.wall) == (0.2, 2.0, 3.0)
    assert abs(run.recognition - 1.1) < 1e-9 and abs(run.ratio - 3.0 / 1.1) < 1e-9
