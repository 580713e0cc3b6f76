"""`etude eval`: measure the recognition model.

    etude eval --synthetic data/val                 # symbol error rate on held-out rendered staves
    etude eval --cases /tmp/devset                  # note F1 per tier on whole PDFs (omr-bench cases)

The case folder is built with omr-bench, from the repository root: `python
../shared/omr-bench/make_cases.py --corpora ../shared/corpora --out /tmp/devset`.
Prints progress, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TRAINING_NEEDED = (
    "evaluation needs the training code and its dependencies, which the etude wheel does not ship: "
    "run it from a repository checkout after `uv sync --group training`"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model-dir", type=Path, default=None, help="model folder (default: the shipped model)"
    )
    parser.add_argument(
        "--synthetic", type=Path, help="folder of held-out shards: symbol error rate per staff"
    )
    parser.add_argument("--limit", type=int, default=None, help="at most this many staves")
    parser.add_argument("--cases", type=Path, help="omr-bench case folder: note F1 per tier on whole PDFs")
    parser.add_argument("--tiers", default="", help="comma-separated tiers (default: all)")
    parser.add_argument("--cases-per-tier", type=int, default=None, help="at most this many cases per tier")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per case")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--reread-beams",
        type=int,
        default=None,
        help="beams for re-reading bars whose notes do not fill the metre (default: the OMR "
        "server's ETUDE_OMR_REREAD_BEAMS setting; 0 = greedy decoding only)",
    )


def run(args: argparse.Namespace) -> int:
    if args.synthetic is None and args.cases is None:
        print("etude eval: error: give --synthetic DIR and/or --cases DIR", file=sys.stderr)
        return 2
    from recognition.manifest import ManifestError, default_model_dir

    try:
        from training.evaluation.run import devset_notes, synthetic_ser
    except ModuleNotFoundError as missing:  # an installed wheel ships no training code
        print(f"etude eval: error: {TRAINING_NEEDED} (missing module {missing.name!r})", file=sys.stderr)
        return 2

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    from omr_server.settings import OmrSettings

    model_dir = args.model_dir or default_model_dir()
    beams = OmrSettings().reread_beams if args.reread_beams is None else args.reread_beams
    figures: dict = {"reread_beams": beams}
    try:
        if args.synthetic is not None:
            figures["synthetic_ser"] = synthetic_ser(model_dir, args.synthetic, args.limit, beams, log=log)
        if args.cases is not None:
            if not (args.cases / "cases.json").is_file():
                print(
                    f"etude eval: error: {args.cases}/cases.json not found (run make_cases.py)",
                    file=sys.stderr,
                )
                return 2
            tiers = [t for t in args.tiers.split(",") if t] or None
            figures["note_f1"] = devset_notes(
                args.cases, args.model_dir, tiers, args.cases_per_tier, args.timeout, beams, log=log
            )
    except (FileNotFoundError, ManifestError) as error:
        print(f"etude eval: error: {error}", file=sys.stderr)
        return 1
    line = json.dumps(figures)
    print(line)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0
