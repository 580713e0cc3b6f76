"""`etude transcribe INPUT -o OUT`: recognise a PDF or a page image in-process and write the score.

INPUT is a PDF or an image (PNG, JPEG, TIFF with one page per frame, WebP), told by its content,
not its name. `--pages-from A.png B.png …` reads several images as the pages of one document.

The output format follows the suffix of OUT (.musicxml/.xml, .mxl, .mid/.midi, .json, .pb).
Progress goes to stderr (etude_cli.progress: a bar on a terminal, a line per page otherwise).
The PDF forkserver starts first and the model loads while the PDF is checked (music21 is not
imported alongside: on 2 cores that only slowed the pages; measured in docs/benchmarks.md).
Bad input or a missing model ends with a one-line
error and a non-zero exit status (2 for bad input, 1 otherwise); nothing is written then.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from etude_cli.progress import Level, Reporter

if TYPE_CHECKING:
    from etude.ir.v1 import score_pb2

    from omr_server.pipeline import DocumentRequest, OmrEngine
    from omr_server.settings import OmrSettings

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1
EXIT_AT_ONCE = True  # etude_cli.main: nothing is left to do once run() returns


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "input",
        type=Path,
        nargs="*",
        help="the PDF or page image (PNG, JPEG, TIFF, WebP) to read; several, or folders of them, "
        "for a batch into the folder -o (etude_cli/batch.py)",
    )
    parser.add_argument(
        "--pages-from",
        type=Path,
        nargs="+",
        default=[],
        metavar="IMAGE",
        help="read these images, in order, as the pages of one document (instead of INPUT)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="score file (or batch folder) to write"
    )
    parser.add_argument(
        "--format",
        choices=["musicxml", "mxl", "midi", "json", "pb"],  # ir.export.FORMATS (a test checks)
        default=None,
        help="format of a batch's files (default musicxml); a single -o FILE goes by its suffix",
    )
    parser.add_argument("--dpi", type=int, default=0, help="rasterisation resolution (default 300)")
    parser.add_argument("--first-page", type=int, default=1, help="number of the first page to read (from 1)")
    parser.add_argument("--pages", type=int, default=0, help="read at most this many pages (0: all)")
    parser.add_argument("--model-dir", type=Path, default=None, help="recognition model folder")
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-q", "--quiet", action="store_true", help="errors only on stderr")
    loudness.add_argument("-v", "--verbose", action="store_true", help="every warning and step timing")


def _fail(message: str, code: int) -> int:
    print(f"etude transcribe: error: {message}", file=sys.stderr)
    return code


def reporter_for(args: argparse.Namespace) -> Reporter:
    level = Level.QUIET if args.quiet else Level.VERBOSE if args.verbose else Level.NORMAL
    return Reporter(level)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from etude_cli import batch

    if batch.is_batch(args.input, args.output):
        return batch.run_batch(args, run)
    args.input = args.input[0] if args.input else None  # one document from here on
    if (args.input is None) == (not args.pages_from):
        return _fail("give one INPUT file, or the pages' images with --pages-from", EXIT_BAD_INPUT)
    for path in args.pages_from or [args.input]:
        if not path.is_file():
            return _fail(f"{path}: no such file", EXIT_BAD_INPUT)
    args.input = args.input or args.pages_from[0]  # names the document in messages and provenance
    if args.first_page < 1:
        return _fail(f"--first-page counts from 1, not {args.first_page}", EXIT_BAD_INPUT)
    try:
        from ir.export import format_for_path

        fmt = format_for_path(args.output)
    except ValueError as error:
        return _fail(str(error), EXIT_BAD_INPUT)
    reporter = reporter_for(args)
    reporter.loading(f"{args.input.name}: loading model …")  # before the heavy imports: seen at once
    from omr_server.pages import forkserver

    forkserver.start()  # loads PDFium and staff detection in its own process while we load the model

    from omr_server.errors import InvalidInput, LimitExceeded, OmrError

    try:
        try:
            score = asyncio.run(_transcribe(args, reporter))
        finally:
            reporter.end_pages()  # the bar goes before an error line is printed
    except (InvalidInput, LimitExceeded) as error:  # the input's fault: asking again cannot help
        return _fail(f"{args.input}: {error.message} [{error.reason}]", EXIT_BAD_INPUT)
    except OmrError as error:
        return _fail(f"{args.input}: {error.message} [{error.reason}]", EXIT_FAILURE)
    except (FileNotFoundError, NoMusicError) as error:
        return _fail(str(error), EXIT_FAILURE)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as error:  # one line, never a traceback
        return _fail(f"{type(error).__name__}: {error}", EXIT_FAILURE)
    from ir.export import export_score

    data, _ = export_score(score, fmt)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    reporter.detail(f"exported to {fmt}")
    reporter.warnings(score)
    reporter.line(f"wrote {args.output} ({len(score.notes)} notes, {len(score.measures)} measures)")
    return 0


class NoMusicError(Exception):
    pass


async def _transcribe(args: argparse.Namespace, reporter: Reporter | None = None) -> score_pb2.Score:
    from etude.omr.v1 import omr_service_pb2 as omr_pb2

    from ir.assemble import score_from_document
    from omr_server.pipeline import DocumentRequest
    from omr_server.settings import OmrSettings

    reporter = reporter or reporter_for(args)
    overrides = {"model_dir": args.model_dir} if args.model_dir else {}
    settings = OmrSettings(metrics_port=None, **overrides)  # type: ignore[arg-type]
    pdf = b"" if args.pages_from else args.input.read_bytes()
    images = tuple(path.read_bytes() for path in args.pages_from)
    first_page = args.first_page - 1  # the pipeline counts pages from 0
    request = DocumentRequest(pdf, args.dpi, first_page, args.pages, args.input.name, images=images)
    engine = await _load_checking(settings, request, reporter)
    try:
        header = None
        fragments: list[score_pb2.PageFragment] = []
        async for event in engine.run(request):
            kind = event.WhichOneof("event")
            if kind == "header":
                header = event.header
                last = header.first_page + header.pages_to_read
                reporter.detail(f"reading pages {header.first_page + 1}-{last} of {header.page_count}")
                reporter.start_pages(args.input.name, header.pages_to_read)
            elif kind == "page" and header is not None:
                fragments.append(event.page)
                page = event.page
                reporter.page(page.page_index + 1, last, page.staff_count, len(page.notes))
    finally:
        reporter.end_pages()
        await engine.close()
    assert header is not None
    if not any(fragment.notes or fragment.rests for fragment in fragments):
        staves = sum(fragment.staff_count for fragment in fragments)
        found = f"the model read no note or rest on {staves} staves" if staves else "no staff found"
        raise NoMusicError(f"{args.input}: {found} ({len(fragments)} page(s)); nothing written")
    options = omr_pb2.RecognitionOptions(dpi=args.dpi, first_page=first_page, page_limit=args.pages)
    score = score_from_document(fragments, header, options, file_name=args.input.name)
    reporter.detail("score assembled")
    return score


async def _load_checking(settings: OmrSettings, request: DocumentRequest, reporter: Reporter) -> OmrEngine:
    """The loaded engine, once the document has passed its checks. Both run at once (the check
    starts the PDF forkserver, the model loads meanwhile); a bad document cancels the load."""
    import asyncio

    from omr_server.pipeline import OmrEngine, check_document

    reporter.detail("pipeline imported")
    loading = asyncio.ensure_future(OmrEngine.load(settings))
    try:
        await check_document(settings, request)
        reporter.detail("document checked")
        engine = await loading
    except BaseException:
        loading.cancel()
        with contextlib.suppress(BaseException):
            await (await loading).close()
        raise
    reporter.detail("model loaded and warmed up")
    return engine
