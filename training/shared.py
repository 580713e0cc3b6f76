"""Where the shared, read-only material lives: `../shared` beside the repository root, unless
`ETUDE_SHARED_DIR` or an explicit folder says otherwise."""

from __future__ import annotations

import os
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


def shared_dir(explicit: Path | None = None) -> Path:
    """The shared folder; SystemExit naming what is missing when it is not there."""
    folder = explicit or Path(os.environ.get("ETUDE_SHARED_DIR") or REPOSITORY.parent / "shared")
    if not (folder / "corpora").is_dir():
        raise SystemExit(
            f"no shared corpora in {folder}/corpora: put the shared folder beside the repository, "
            "set ETUDE_SHARED_DIR, or pass its path"
        )
    return folder
