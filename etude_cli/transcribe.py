"""`etude transcribe INPUT.pdf -o OUT`: recognise a PDF in-process and write the score.

The output format follows the suffix of OUT (.musicxml/.xml, .mxl, .mid/.midi, .json, .pb).
Progress goes to stderr, one line per page. Bad input or a missing model ends with a one-line
error and a non-zero exit status (2 for bad input, 1 otherwise); nothing is written then.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from etude.ir.v1 import score_pb2

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="the PDF to read")
    parser.add_argument("-o", "--output", type=Path, required=True, help="score file to write")
    parser.add_argument("--dpi", type=int, default=0, help="rasterisation resolution (default 300)")
    parser.add_argument("--first-page", type=int, default=0, help="0-based index of the first page to read")
    parser.add_argument("--pages", type=int, default=0, help="read at most this many pages (0: all)")
    parser.add_argument("--model-dir", type=Path, default=None, help="recognition model folder")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def _fail(message: str, code: int) -> int:
    print(f"etude transcribe: error: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    import asyncio

    from omr_server.errors import InvalidInput, LimitExceeded, OmrError

    if not args.input.is_file():
        return _fail(f"{args.input}: no such file", EXIT_BAD_INPUT)
    try:
        from ir.export import format_for_path

        fmt = format_for_path(args.output)
    except ValueError as error:
        return _fail(str(error), EXIT_BAD_INPUT)
    try:
        score = asyncio.run(_transcribe(args))
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
    if not args.quiet:
        print(
            f"wrote {args.output} ({len(score.notes)} notes, {len(score.measures)} measures)", file=sys.stderr
        )
    return 0


class NoMusicError(Exception):
    pass


async def _transcribe(args: argparse.Namespace) -> score_pb2.Score:
    import time

    from etude.omr.v1 import omr_service_pb2 as omr_pb2

    from ir.assemble import score_from_document
    from omr_server.pipeline import DocumentRequest, OmrEngine, check_document
    from omr_server.settings import OmrSettings

    overrides = {"model_dir": args.model_dir} if args.model_dir else {}
    settings = OmrSettings(metrics_port=None, **overrides)  # type: ignore[arg-type]
    pdf = args.input.read_bytes()
    request = DocumentRequest(pdf, args.dpi, args.first_page, args.pages, args.input.name)
    await check_document(settings, request)  # refuse a bad PDF before spending seconds on the model
    engine = await OmrEngine.load(settings)
    try:
        header = None
        fragments: list[score_pb2.PageFragment] = []
        started = time.perf_counter()
        async for event in engine.run(request):
            kind = event.WhichOneof("event")
            if kind == "header":
                header = event.header
            elif kind == "page":
                fragments.append(event.page)
                if not args.quiet and header is not None:
                    page = event.page
                    print(
                        f"page {len(fragments)}/{header.pages_to_read}: {page.staff_count} staves, "
                        f"{len(page.notes)} notes ({time.perf_counter() - started:.1f} s)",
                        file=sys.stderr,
                    )
    finally:
        await engine.close()
    assert header is not None
    if not any(fragment.notes or fragment.rests for fragment in fragments):
        staves = sum(fragment.staff_count for fragment in fragments)
        found = f"the model read no note or rest on {staves} staves" if staves else "no staff found"
        raise NoMusicError(f"{args.input}: {found} ({len(fragments)} page(s)); nothing written")
    options = omr_pb2.RecognitionOptions(dpi=args.dpi, first_page=args.first_page, page_limit=args.pages)
    return score_from_document(fragments, header, options, file_name=args.input.name)
