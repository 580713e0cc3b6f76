"""Even out the paper of a page lit unevenly (a phone photo, a page bent away from the glass).

Binarisation takes one threshold for the page and the model reads ink as darkness, so a paper
that falls from white to mid-grey towards a corner turns into ink there. The paper's brightness
is estimated on a coarse grid: the brightest pixel of each block is paper unless the block lies
wholly inside a symbol, and a symbol is never wider than a few blocks, so the brightest block
nearby is paper. Dividing by that estimate brings the paper back to white (as on a scan) and
keeps ink dark. Pages whose paper is even already (scans, engravings) are returned untouched.

A page lit evenly can still be grey all over (a photocopy: grey paper, grey ink, noise). The
model learnt black ink on white paper, so such a page is stretched to it (`stretch_levels`):
its paper level (the page's median) goes to white and its darkest ink to black.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

BLOCK = 16  # pixels per side of the coarse grid's blocks
STRIDE = 8  # every 8th pixel of every 8th row is looked at: paper covers most of a block
REACH = 5  # blocks: wider than any dark symbol (a beam group, a filled chord, a bold title)
# Paper levels (0-255) differing by less than this across the page are left as they are (a
# uniformly grey paper is `stretch_levels`' job).
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


# A page whose ink is lighter than this at its darkest, or whose paper is darker than WHITE, is
# stretched to black ink on white paper (a photocopy, a grey scan); scans and engravings are not.
BLACK = 16
WHITE = 240
DARKEST = 2  # percentile of the ink's pixels taken as its black: noise makes single pixels darker


def stretch_levels(image: np.ndarray) -> np.ndarray:
    """`image` (uint8, 255 = paper) with its ink brought to black and its paper to white; the same
    array when both are there already. Paper covers most of any page of music, so its level is
    the page's median; ink is what is darker than paper by more than its noise."""
    if image.size == 0:
        return image
    sampled = image[::STRIDE, ::STRIDE]
    white = float(np.median(sampled))
    ink = sampled[sampled < white - 2 * UNEVEN]
    if ink.size == 0:
        return image
    black = float(np.percentile(ink, DARKEST))
    if (black <= BLACK and white >= WHITE) or white - black < 2 * UNEVEN:
        return image
    stretched = (image.astype(np.float32) - np.float32(black)) * np.float32(255 / (white - black))
    out: np.ndarray = np.clip(stretched, 0, 255).astype(np.uint8)
    return out
