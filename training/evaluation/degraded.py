"""Degraded copies of scan cases, to see what a worse scan costs:
`python -m training.evaluation.degraded --cases /tmp/devset --out /tmp/degraded`.

Real users send scans worse than the dev tiers' (phone photos, 150 dpi office scans, JPEGs,
photocopies, a page laid crooked on the glass). Each variant applies one such fault, always the
same way, to every page of the chosen scan cases and writes an omr-bench case folder (tiers
`<tier>~<variant>`, the truth copied) that `etude eval --cases` reads like the dev set; the
`clean` variant re-encodes the page images without a fault, so the figures compare like with like.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
from PIL import Image
from scipy import ndimage

DPI = 300  # pages are rasterised at this resolution before a fault is applied
Fault = Callable[[np.ndarray], tuple[np.ndarray, int]]  # grey page (ink dark) -> page, its dpi


def _clean(page: np.ndarray) -> tuple[np.ndarray, int]:
    return page, DPI


def _rotated(page: np.ndarray) -> tuple[np.ndarray, int]:
    """The page laid 2° off square on the glass."""
    image = Image.fromarray(page).rotate(2.0, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    return np.asarray(image), DPI


def _low_resolution(page: np.ndarray) -> tuple[np.ndarray, int]:
    """An office scan at 150 dpi."""
    h, w = page.shape
    image = Image.fromarray(page).resize((w // 2, h // 2), Image.Resampling.BOX)
    return np.asarray(image), DPI // 2


def _jpeg(page: np.ndarray) -> tuple[np.ndarray, int]:
    """A strongly compressed JPEG at 200 dpi (a scan mailed or put on the web)."""
    h, w = page.shape
    small = Image.fromarray(page).resize((w * 2 // 3, h * 2 // 3), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=20)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("L")), DPI * 2 // 3


def _photocopy(page: np.ndarray) -> tuple[np.ndarray, int]:
    """Grey paper, speckles and a blur: a copy of a copy."""
    rng = np.random.default_rng(12)
    img = ndimage.gaussian_filter(page.astype(np.float32), sigma=1.2)
    img = 45 + img / 255.0 * (205 - 45) + rng.normal(0, 12, img.shape)
    specks = rng.random(img.shape)
    img[specks < 0.001] = 30
    return np.clip(img, 0, 255).astype(np.uint8), DPI


def _photo(page: np.ndarray) -> tuple[np.ndarray, int]:
    """A phone photo: light falling off towards one corner, soft focus, lines slightly bowed."""
    h, w = page.shape
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    bow = 0.004 * h * np.sin(np.pi * cols / w)  # the page lifts in the middle
    img = ndimage.map_coordinates(page.astype(np.float32), [rows - bow, cols], order=1, cval=255)
    img = ndimage.gaussian_filter(img, sigma=0.9)
    light = 1.0 - 0.45 * ((rows / h) ** 2 + (cols / w) ** 2) / 2
    return np.clip(img * light, 0, 255).astype(np.uint8), DPI


def _thin(page: np.ndarray) -> tuple[np.ndarray, int]:
    """A light print: strokes a pixel thinner (ink is dark, so thinning is a grey dilation)."""
    return ndimage.grey_dilation(page, size=(2, 2)), DPI


def _bold(page: np.ndarray) -> tuple[np.ndarray, int]:
    """A heavy print: strokes a pixel thicker."""
    return ndimage.grey_erosion(page, size=(2, 2)), DPI


VARIANTS: dict[str, Fault] = {
    "clean": _clean,
    "rotated": _rotated,
    "150dpi": _low_resolution,
    "jpeg": _jpeg,
    "photocopy": _photocopy,
    "photo": _photo,
    "thin": _thin,
    "bold": _bold,
}


def degrade_pdf(source: Path, target: Path, fault: Fault) -> int:
    """Rasterise every page of `source`, apply `fault`, write the pages as a PDF of images
    stored losslessly (Pillow's PDF writer would JPEG them: a fault of its own)."""
    document = pdfium.PdfDocument(str(source))
    out = pdfium.PdfDocument.new()
    try:
        for page in document:
            grey = np.asarray(page.render(scale=DPI / 72).to_pil().convert("L"))
            degraded, dpi = fault(grey)
            _add_image_page(out, np.ascontiguousarray(degraded), dpi)
        out.save(str(target))
        return len(out)
    finally:
        document.close()
        out.close()


def _add_image_page(pdf: pdfium.PdfDocument, pixels: np.ndarray, dpi: int) -> None:
    height, width = pixels.shape
    points = (width * 72 / dpi, height * 72 / dpi)
    image = pdfium.PdfImage.new(pdf)
    image.set_bitmap(pdfium.PdfBitmap.from_pil(Image.fromarray(pixels)))
    image.set_matrix(pdfium.PdfMatrix().scale(*points))
    page = pdf.new_page(*points)
    page.insert_obj(image)
    page.gen_content()


def build(
    cases_dir: Path, out: Path, tiers: list[str], per_tier: int, variants: list[str]
) -> list[dict[str, object]]:
    """The degraded case folder: the `per_tier` cases of fewest pages of each tier, per variant."""
    cases = json.loads((cases_dir / "cases.json").read_text())
    written = []
    for tier in tiers:
        chosen = sorted((c for c in cases if c["tier"] == tier), key=lambda c: (c["pages"], c["case"]))[
            :per_tier
        ]
        for variant in variants:
            name = f"{tier}~{variant}"
            (out / name).mkdir(parents=True, exist_ok=True)
            for case in chosen:
                pdf, gt = f"{name}/{case['case']}.pdf", f"{name}/{case['case']}.gt.json"
                pages = degrade_pdf(cases_dir / case["pdf"], out / pdf, VARIANTS[variant])
                shutil.copyfile(cases_dir / case["gt"], out / gt)
                written.append({**case, "tier": name, "pdf": pdf, "gt": gt, "pages": pages})
                print(name, case["case"], pages, "pages", flush=True)
    (out / "cases.json").write_text(json.dumps(written, indent=1))
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=Path, required=True, help="omr-bench case folder (the dev set)")
    ap.add_argument("--out", type=Path, required=True, help="folder for the degraded cases")
    ap.add_argument("--tiers", default="piano-scan,beethoven-scan", help="comma-separated source tiers")
    ap.add_argument("--per-tier", type=int, default=3, help="cases per tier (those of fewest pages)")
    ap.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}"
    )
    a = ap.parse_args(argv)
    unknown = set(a.variants.split(",")) - set(VARIANTS)
    if unknown:
        ap.error(f"unknown variants: {', '.join(sorted(unknown))}")
    build(a.cases, a.out, a.tiers.split(","), a.per_tier, a.variants.split(","))


if __name__ == "__main__":
    main()
