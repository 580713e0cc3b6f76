"""`etude bench omr|gateway|cli`: measure a service and print figures.

`etude bench omr` runs the in-process OMR pipeline (the same one the server streams from) over
the bundled engraved PDF and over a real scan, and prints seconds per page, seconds per 10-staff
page, pages/s, time to the first fragment, the mean inference batch size, the CPU time per 10 staves
(this process and the PDF worker) and peak RSS.
`etude bench cli` runs `etude transcribe` on the bundled PDF as a person would (a new process
each time) and prints when its first line and first page appear, its wall time, and that wall
time over the recognition time (from the document header to the last page).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_PDF = ROOT / "examples" / "engraved-piano.pdf"
# In the shared folder (../shared beside the repository, or ETUDE_SHARED_DIR).
DEFAULT_SCAN = Path("corpora/mozart-piano-sonatas/reference-edition/sonata01-1.pdf")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    targets = parser.add_subparsers(dest="target", required=True, metavar="TARGET")
    omr = targets.add_parser("omr", help="the OMR pipeline on an engraved PDF and a scan")
    omr.add_argument("--pdf", type=Path, default=BUNDLED_PDF, help="engraved PDF (default: the bundled one)")
    omr.add_argument(
        "--scan",
        type=Path,
        default=None,
        help=f"scanned PDF (default: {DEFAULT_SCAN} in the shared folder; skipped when absent)",
    )
    omr.add_argument("--dpi", type=int, default=300)
    omr.add_argument("--pages", type=int, default=0, help="read at most this many pages per PDF (0: all)")
    omr.add_argument("--model-dir", type=Path, default=None)
    cli = targets.add_parser("cli", help="etude transcribe's start-up: first line, first page, wall time")
    cli.add_argument("--pdf", type=Path, default=BUNDLED_PDF, help="PDF to read (default: the bundled one)")
    cli.add_argument("--runs", type=int, default=3, help="runs to make; the medians are printed too")
    cli.add_argument("--format", default="musicxml", help="output format (a suffix name: musicxml, mid …)")
    gateway = targets.add_parser("gateway", help="the gateway (jobs API) end to end")
    try:
        from gateway import bench as gateway_bench
    except ImportError:
        gateway.set_defaults(gateway_missing=True)
    else:
        gateway_bench.add_arguments(gateway)


def run(args: argparse.Namespace) -> int:
    if args.target == "gateway":
        if getattr(args, "gateway_missing", False):
            print("etude bench gateway: error: gateway.bench is not available", file=sys.stderr)
            return 1
        from gateway import bench as gateway_bench

        code: int = gateway_bench.run(args)
        return code
    if args.target == "cli":
        from etude_cli.bench_cli import bench_cli

        return bench_cli(args.pdf, args.runs, args.format)
    import asyncio

    try:
        return asyncio.run(_bench_omr(args))
    except FileNotFoundError as error:
        print(f"etude bench omr: error: {error}", file=sys.stderr)
        return 1


def _default_scan() -> Path | str:
    """The shared folder's scan, or why there is none (the reason is printed as the skip)."""
    try:
        from training.shared import shared_dir
    except ImportError:  # an installed wheel: no training package, no repository beside it
        return "no shared folder outside a repository checkout; pass --scan FILE"
    try:
        return shared_dir() / DEFAULT_SCAN
    except SystemExit as missing:  # shared_dir's message says what is missing and how to fix it
        return str(missing)


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and every process under it (the PDF workers):
    on a busy VM it moves less than wall time, so changes stay comparable within a session."""
    import os
    import resource

    if not Path("/proc").is_dir():  # not Linux: this process and the children it has reaped
        own, reaped = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone since it was listed
            continue
        pid = int(entry.name)
        # utime and stime, and cutime and cstime (children it has reaped, as workers that ended)
        parents[pid], used[pid] = int(fields[1]), sum(int(f) for f in fields[11:15]) / ticks
    me, total = os.getpid(), 0.0
    for pid, seconds in used.items():
        ancestor = pid
        while ancestor not in (me, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor == me:
            total += seconds
    return total


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


async def _bench_omr(args: argparse.Namespace) -> int:
    from omr_server.pipeline import OmrEngine
    from omr_server.settings import OmrSettings

    overrides = {"model_dir": args.model_dir} if args.model_dir else {}
    settings = OmrSettings(metrics_port=None, **overrides)  # type: ignore[arg-type]
    engine = await OmrEngine.load(settings)
    print(
        f"model {engine.model_info.name} {engine.model_info.version}, "
        f"providers {list(engine.recognizer.providers)}"
    )
    print(
        f"batching: max {settings.max_batch_size} staves, {settings.max_queue_delay_ms} ms delay; "
        f"{settings.layout_threads} layout threads, {engine.pages_in_flight} pages in flight per request"
    )
    try:
        for label, path in (("engraved", args.pdf), ("scan", args.scan or _default_scan())):
            if isinstance(path, str):
                print(f"{label}: skipped ({path})")
            elif not path.is_file():
                print(f"{label}: skipped ({path} not found)")
            else:
                await _bench_document(engine, label, path, args)
    finally:
        await engine.close()
    print(f"peak RSS: {_peak_rss_mib():.0f} MiB")
    return 0


async def _bench_document(engine: object, label: str, path: Path, args: argparse.Namespace) -> None:
    import time

    from omr_server.pipeline import DocumentRequest, OmrEngine

    assert isinstance(engine, OmrEngine)
    stats = engine.batcher.stats
    batches_before, staves_before = stats.batches, stats.staves
    stages_before = _stage_seconds()
    request = DocumentRequest(path.read_bytes(), args.dpi, 0, args.pages, path.name)
    started, cpu_before = time.perf_counter(), _cpu_seconds()
    first_fragment: float | None = None
    pages = staves = notes = 0
    async for event in engine.run(request):
        if event.WhichOneof("event") == "page":
            if first_fragment is None:
                first_fragment = time.perf_counter() - started
            pages += 1
            staves += event.page.staff_count
            notes += len(event.page.notes)
    elapsed, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_before
    batches = stats.batches - batches_before
    mean_batch = (stats.staves - staves_before) / batches if batches else 0.0
    per_page = elapsed / max(pages, 1)
    per_ten_staves = elapsed / max(staves, 1) * 10
    stages = {name: seconds - stages_before[name] for name, seconds in _stage_seconds().items()}
    print(
        f"{label}: {path.name}: {pages} pages, {staves} staves, {notes} notes in {elapsed:.2f} s | "
        f"{per_page:.3f} s/page, {per_ten_staves:.3f} s per 10 staves, {pages / elapsed:.2f} pages/s, "
        f"first fragment {first_fragment or 0:.2f} s, mean batch {mean_batch:.1f} staves"
    )
    layout, infer, decode = stages["layout"], stages["infer"], stages["decode"]
    print(
        f"  stages (overlapping): rasterise+layout+crop {layout / max(pages, 1):.3f} s/page, "
        f"inference {infer:.2f} s in {batches} batches ({infer / max(batches, 1):.3f} s/batch), "
        f"decode {decode / max(pages, 1):.3f} s/page; CPU {cpu / max(staves, 1) * 10:.3f} s per 10 staves "
        f"({cpu / elapsed:.2f} cores busy)"
    )


def _stage_seconds() -> dict[str, float]:
    from prometheus_client import REGISTRY

    names = {"layout": "etude_omr_layout_seconds_sum", "infer": "etude_omr_infer_seconds_sum"}
    names["decode"] = "etude_omr_decode_seconds_sum"
    return {stage: REGISTRY.get_sample_value(metric) or 0.0 for stage, metric in names.items()}
