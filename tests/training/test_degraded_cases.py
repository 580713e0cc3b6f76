"""The degraded copies of scan cases (training/evaluation/degraded.py) on a page built here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

from training.evaluation.degraded import DPI, VARIANTS, build


def _scan_case(folder: Path) -> None:
    """A one-page 'scan' (five staff lines, a notehead) with its truth, as omr-bench writes one."""
    page = np.full((600, 500), 255, np.uint8)
    for row in range(200, 260, 12):
        page[row : row + 2, 40:460] = 0
    page[222:232, 200:212] = 0
    (folder / "piano-scan").mkdir(parents=True)
    Image.fromarray(page).save(folder / "piano-scan" / "a.pdf", format="PDF", resolution=float(DPI))
    (folder / "piano-scan" / "a.gt.json").write_text(json.dumps({"measures": [[["0", 67]]]}))
    case = {
        "tier": "piano-scan",
        "case": "a",
        "pdf": "piano-scan/a.pdf",
        "gt": "piano-scan/a.gt.json",
        "pages": 1,
        "notes": 1,
    }
    (folder / "cases.json").write_text(json.dumps([case]))


def _page_pixels(pdf: Path) -> np.ndarray:
    document = pdfium.PdfDocument(str(pdf))
    try:
        return np.asarray(document[0].render(scale=DPI / 72).to_pil().convert("L"))
    finally:
        document.close()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_variant_writes_a_readable_case_with_the_same_truth(tmp_path: Path, variant: str) -> None:
    _scan_case(tmp_path / "dev")
    written = build(tmp_path / "dev", tmp_path / "out", ["piano-scan"], 3, [variant])

    assert [c["tier"] for c in written] == [f"piano-scan~{variant}"]
    index = json.loads((tmp_path / "out" / "cases.json").read_text())
    assert index == written
    case = index[0]
    truth = (tmp_path / "out" / case["gt"]).read_text()
    assert truth == (tmp_path / "dev" / "piano-scan" / "a.gt.json").read_text()
    pixels = _page_pixels(tmp_path / "out" / case["pdf"])
    assert pixels.min() < 100 and np.median(pixels) > 150  # still ink on paper


def test_the_faults_change_the_page_and_clean_does_not(tmp_path: Path) -> None:
    _scan_case(tmp_path / "dev")
    build(tmp_path / "dev", tmp_path / "out", ["piano-scan"], 1, ["clean", "150dpi", "rotated", "bold"])
    clean = _page_pixels(tmp_path / "out" / "piano-scan~clean" / "a.pdf")
    assert np.array_equal(clean, _page_pixels(tmp_path / "dev" / "piano-scan" / "a.pdf"))
    # 150 dpi: the page keeps its size in inches, so it renders at the same size, but blurred.
    low = _page_pixels(tmp_path / "out" / "piano-scan~150dpi" / "a.pdf")
    assert low.shape == clean.shape and not np.array_equal(low, clean)
    rotated = _page_pixels(tmp_path / "out" / "piano-scan~rotated" / "a.pdf")
    assert rotated.shape != clean.shape  # expanded to hold the turned page
    bold = _page_pixels(tmp_path / "out" / "piano-scan~bold" / "a.pdf")
    assert (bold < 128).sum() > (clean < 128).sum()
