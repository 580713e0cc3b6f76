"""Page image → staves and systems: even the light, stretch ink and paper to black and white,
binarise, deskew, measure, find lines, group."""

from __future__ import annotations

import numpy as np

from omr_server.staves.binarize import ink_mask
from omr_server.staves.deskew import deskew, estimate_skew
from omr_server.staves.illumination import even_illumination, stretch_levels
from omr_server.staves.layout import PageLayout
from omr_server.staves.lines import find_staves
from omr_server.staves.metrics import estimate_metrics
from omr_server.staves.systems import drop_fragments, extend_to_page, group_systems


def detect_layout(image: np.ndarray) -> PageLayout:
    image = stretch_levels(even_illumination(image))
    ink = ink_mask(image)
    skew = estimate_skew(ink)
    if skew != 0.0:
        image = deskew(image, skew)
        ink = ink_mask(image) if image is not None else ink
    metrics = estimate_metrics(ink)
    if metrics is None:
        return PageLayout(image=image, skew_degrees=skew, metrics=None, systems=())
    staves = find_staves(ink, metrics)
    systems = extend_to_page(ink, group_systems(ink, staves, metrics), metrics) if staves else []
    systems = drop_fragments(systems)
    return PageLayout(image=image, skew_degrees=skew, metrics=metrics, systems=tuple(systems))
