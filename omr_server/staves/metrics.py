"""Staff-line thickness and interline from vertical run lengths of ink and paper.

Along a vertical cut through a staff, ink runs of one line's thickness alternate with paper
runs of one staff space; on a page of music these two lengths are the most common runs.
"""

from __future__ import annotations

import numpy as np

from omr_server.staves.layout import StaffMetrics

_COLUMN_STEP = 7


def vertical_runs(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lengths of ink runs and of paper runs (bounded by ink) along sampled columns."""
    columns = ink[:, ::_COLUMN_STEP].T.astype(np.int8)
    padded = np.pad(columns, ((0, 0), (1, 1)))  # paper border so every ink run starts and ends
    edges = np.diff(padded, axis=1)
    rows_start = np.nonzero(edges.ravel() == 1)[0]
    rows_end = np.nonzero(edges.ravel() == -1)[0]
    ink_runs = rows_end - rows_start
    # Paper between two ink runs of the same column: next start minus this end.
    width = edges.shape[1]
    same_column = (rows_start[1:] // width) == (rows_end[:-1] // width)
    paper_runs = (rows_start[1:] - rows_end[:-1])[same_column]
    return ink_runs, paper_runs


def estimate_metrics(ink: np.ndarray) -> StaffMetrics | None:
    ink_runs, paper_runs = vertical_runs(ink)
    if len(ink_runs) < 50 or len(paper_runs) < 50:
        return None
    thickness = int(np.argmax(np.bincount(ink_runs)))
    space = int(np.argmax(np.bincount(paper_runs[paper_runs > 1])))
    if space < 3 or thickness < 1:
        return None
    return StaffMetrics(line_thickness=float(thickness), interline=float(space + thickness))
