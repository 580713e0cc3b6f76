"""`etude transcribe a.pdf b.png scans/ -o out/`: one score per input, into a folder.

A batch is several inputs, a folder among them, or an output that is an existing folder.
Folders are read one level deep, for PDFs and page images, in name order. Each input is
transcribed as on its own (same progress, same one-line errors), its score written to
OUT/<name><suffix> (the suffix of --format, MusicXML by default). A bad input does not stop
the others; at the end a summary line names the failures, and the exit status is that of the
worst one (1 over 2). Ctrl-C stops the batch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# What a folder is searched for: PDFs and the page images `etude transcribe` reads.
INPUT_SUFFIXES = frozenset({".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp"})
DEFAULT_FORMAT = "musicxml"
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path


def is_batch(inputs: Sequence[Path], output: Path) -> bool:
    return len(inputs) > 1 or any(p.is_dir() for p in inputs) or output.is_dir()


def plan(inputs: Sequence[Path], out_dir: Path, suffix: str) -> tuple[list[Job], list[Path]]:
    """The jobs (one per input file, folders expanded) and the inputs that are not there. Two
    inputs with one stem (a.pdf, a.png) keep their own suffix in the output name (a.pdf.musicxml)."""
    files: list[Path] = []
    missing: list[Path] = []
    for path in inputs:
        if path.is_dir():
            found = (p for p in path.iterdir() if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES)
            files.extend(sorted(found))
        elif path.is_file():
            files.append(path)
        else:
            missing.append(path)
    stems = [p.stem for p in files]
    jobs = [
        Job(p, out_dir / f"{p.name if stems.count(p.stem) > 1 else p.stem}{suffix}")
        for p in dict.fromkeys(files)  # the same file named twice is read once
    ]
    return jobs, missing


def run_batch(args: argparse.Namespace, transcribe_one: Callable[[argparse.Namespace], int]) -> int:
    """Transcribe every input of `args` with `transcribe_one` (etude_cli.transcribe.run on one
    input) and say how it went."""
    from ir.export import FORMATS

    fmt = args.format or DEFAULT_FORMAT
    if args.pages_from:
        return _fail("--pages-from reads one document; give a batch's inputs without it", 2)
    if args.output.is_file():
        return _fail(f"{args.output}: a batch writes into a folder, and this is a file", 2)
    jobs, missing = plan(args.input, args.output, FORMATS[fmt].suffix)
    for path in missing:
        _say(f"etude transcribe: error: {path}: no such file or folder")
    if not jobs:
        return _fail("no PDF or page image to read in the inputs given", 2)
    failed: list[tuple[Path, int]] = [(path, 2) for path in missing]
    args.output.mkdir(parents=True, exist_ok=True)
    for number, job in enumerate(jobs, start=1):
        if not args.quiet and len(jobs) > 1:
            _say(f"[{number}/{len(jobs)}] {job.source}")
        one = {**vars(args), "input": [job.source], "output": job.output, "pages_from": []}
        code = transcribe_one(argparse.Namespace(**one))
        if code == EXIT_INTERRUPTED:
            _say(f"etude transcribe: batch stopped at {job.source}")
            return EXIT_INTERRUPTED
        if code != 0:
            failed.append((job.source, code))
    return _summary(len(jobs) + len(missing), failed, args.output, quiet=args.quiet)


def _summary(total: int, failed: list[tuple[Path, int]], out_dir: Path, *, quiet: bool) -> int:
    if not failed:
        if not quiet:
            _say(f"{total} of {total} transcribed into {out_dir}")
        return 0
    names = ", ".join(f"{path} (exit {code})" for path, code in failed)
    _say(f"etude transcribe: {total - len(failed)} of {total} transcribed into {out_dir}; failed: {names}")
    return 1 if any(code == 1 for _, code in failed) else max(code for _, code in failed)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _fail(message: str, code: int) -> int:
    _say(f"etude transcribe: error: {message}")
    return code
