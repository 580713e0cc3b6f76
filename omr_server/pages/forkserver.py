"""Start the PDF workers' forkserver early, before the modules that use it are imported.

The forkserver (pages/worker.py) imports PDFium, numpy and staff detection (scipy.ndimage) once,
which takes 1-1.5 s. A command that knows it will read a PDF (`etude transcribe`) starts it first thing,
so that this happens while the command itself imports the pipeline and loads the model. This
module imports nothing heavy: starting costs milliseconds.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver

# What the forkserver imports before forking each worker; pages/worker.py asks for the same
# (tests/cli/test_cli_speed.py checks that the two agree).
PRELOAD = ["omr_server.pages.worker", "omr_server.staves.detect"]


def start() -> None:
    """Start the forkserver now (it loads its modules in the background; workers forked from it
    later wait for that). Harmless when it is already running."""
    multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
    multiprocessing.forkserver.ensure_running()
