"""Even out the paper of a page lit unevenly (a phone photo, a page bent away from the glass).

Binarisation takes one threshold for the page and the model reads ink as darkness, so a paper
that falls from white to mid-grey towards a corner turns into ink there. The paper's brightness
is estimated on a coarse grid: the brightest pixel of each block is paper unless the block lies
wholly inside a symbol, and a symbol is never wider than a few blocks, so the brightest block
nearby is paper. Dividing by that estimate brings the paper back to white (as on a scan) and
keeps ink dark. Pages whose paper is even already (scans, engravings) are returned untouched.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

BLOCK = 16  # pixels per side of the coarse grid's blocks
STRIDE = 8  # every 8th pixel of every 8th row is looked at: paper covers most of a block
REACH = 5  # blocks: wider than any dark symbol (a beam group, a filled chord, a bold title)
# Paper levels (0-255) differing by less than this across the page are left as they are: a
# uniformly grey paper is handled by binarisation and the model already.
UNEVEN = 24


def paper_brightness(image: np.ndarray) -> np.ndarray:
    """The paper's grey level at each block of the coarse grid (float32; a block covers
    BLOCK × BLOCK pixels of `image`)."""
    sampled = image[::STRIDE, ::STRIDE]
    side = BLOCK // STRIDE
    h, w = sampled.shape
    rows, cols = -(-h // side), -(-w // side)
    padded = np.pad(sampled, ((0, rows * side - h), (0, cols * side - w)), mode="edge")
    blocks = padded.reshape(rows, side, cols, side).max(axis=(1, 3))
    paper = ndimage.maximum_filter(blocks, size=REACH, mode="nearest")
    # Smooth the steps of the max filter; the light of a photo varies slowly.
    smooth: np.ndarray = ndimage.uniform_filter(paper.astype(np.float32), size=REACH, mode="nearest")
    return smooth


def even_illumination(image: np.ndarray) -> np.ndarray:
    """`image` (uint8, 255 = paper) with its paper brought to one level; the same array when the
    paper is even already."""
    if image.size == 0:
        return image
    paper = paper_brightness(image)
    low, high = np.percentile(paper, [2, 98])
    if high - low < UNEVEN or high <= 0:
        return image
    h, w = image.shape
    full = np.asarray(Image.fromarray(paper).resize((w, h), Image.Resampling.BILINEAR))
    evened = image.astype(np.float32) * (np.float32(255) / np.maximum(full, 1.0))
    out: np.ndarray = np.clip(evened, 0, 255).astype(np.uint8)
    return out
