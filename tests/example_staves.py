"""Staff crops of the bundled example score, cut the way the OMR server cuts them."""

from pathlib import Path

import numpy as np
import pypdfium2 as pdfium

from omr_server.pages.rasterise import rasterise_page
from omr_server.staves.detect import detect_layout
from recognition.crop import crop_staff

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "engraved-piano.pdf"


def example_staves(page: int = 0, height: int = 96) -> list[np.ndarray]:
    layout = detect_layout(rasterise_page(pdfium.PdfDocument(EXAMPLE), page, 300))
    image = layout.image
    return [crop_staff(image, s.top, s.bottom, s.left_x, s.right_x, height=height) for s in layout.staves]
