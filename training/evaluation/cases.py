"""Add the `beethoven-scan` tier to an omr-bench case folder:
`python -m training.evaluation.cases --out /tmp/devset`.

The tier is the scanned Beethoven movements held out from training
(`training.data.devset.beethoven_dev_movements`: the first 10 of make_cases.py's shuffle with
`--scanned beethoven-piano-sonatas`), written as omr-bench writes its piano-scan cases: the
scan as it is, and the kern's noteheads per measure (`measures_of`, as omrscore.py counts them).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from training.data.devset import BEETHOVEN, beethoven_dev_movements
from training.evaluation.notes import measures_of
from training.shared import shared_dir

TIER = "beethoven-scan"


def add_beethoven_tier(out: Path, corpora: Path) -> list[dict[str, object]]:
    """Write the tier's cases under `out/beethoven-scan` and add them to `out/cases.json`."""
    import music21 as m21
    import pypdfium2 as pdfium

    folder = out / TIER
    folder.mkdir(parents=True, exist_ok=True)
    index = out / "cases.json"
    cases = [c for c in json.loads(index.read_text()) if c["tier"] != TIER] if index.exists() else []
    added = []
    for kern in beethoven_dev_movements(corpora):
        name = f"{BEETHOVEN}-{kern.stem}"
        pdf = folder / f"{name}.pdf"
        shutil.copyfile(corpora / BEETHOVEN / "reference-edition" / f"{kern.stem}.pdf", pdf)
        truth = measures_of(m21.converter.parse(str(kern)))
        (folder / f"{name}.gt.json").write_text(json.dumps({"measures": truth}))
        document = pdfium.PdfDocument(str(pdf))
        pages = len(document)
        document.close()
        case = {
            "tier": TIER,
            "case": name,
            "pdf": f"{TIER}/{name}.pdf",
            "gt": f"{TIER}/{name}.gt.json",
            "pages": pages,
            "notes": sum(len(row) for row in truth),
        }
        added.append(case)
        print(TIER, name, pages, "pages", case["notes"], "notes", flush=True)
    index.write_text(json.dumps(cases + added, indent=1))
    return added


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="the omr-bench case folder")
    ap.add_argument("--shared", type=Path, default=None, help="the shared folder (default: ../shared)")
    a = ap.parse_args(argv)
    add_beethoven_tier(a.out, shared_dir(a.shared) / "corpora")


if __name__ == "__main__":
    main()
