"""One PDF page → a grayscale image (uint8, 255 = paper) at a given dpi."""

from __future__ import annotations

import numpy as np
import pypdfium2 as pdfium

from omr_server.pages.validate import PDFIUM_LOCK


def rasterise_page(document: pdfium.PdfDocument, index: int, dpi: int) -> np.ndarray:
    with PDFIUM_LOCK:
        page = document[index]
        try:
            bitmap = page.render(scale=dpi / 72, grayscale=True, may_draw_forms=False)
            image = bitmap.to_numpy()
        finally:
            page.close()
    # Grayscale bitmaps come back as (H, W) or (H, W, 1) depending on the stride layout.
    return np.ascontiguousarray(image.reshape(image.shape[0], image.shape[1]))
