"""Load the recognition model from a folder: the one entry point serving and tools share.

Takes plain arguments (a folder, providers), so that a training script, a benchmark and the
OMR server load the model the same way without knowing each other's settings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from recognition.manifest import MANIFEST_NAME
from recognition.recognizer import StaffRecognizer
from recognition.reread import DEFAULT_REREAD_BEAMS


def load_recognizer(
    model_dir: Path | str,
    providers: Sequence[str] = (),
    *,
    reread_beams: int = DEFAULT_REREAD_BEAMS,
    threads: int | None = None,
) -> StaffRecognizer:
    """The model in `model_dir` on the given onnxruntime providers (none: CUDA when this
    onnxruntime can use it, else CPU). FileNotFoundError names a folder without a model."""
    folder = Path(model_dir)
    if not (folder / MANIFEST_NAME).is_file():
        raise FileNotFoundError(
            f"no recognition model in {folder} ({MANIFEST_NAME} missing); set ETUDE_OMR_MODEL_DIR "
            "or ETUDE_MODEL_DIR to a model folder"
        )
    return StaffRecognizer.load(
        folder, choose_providers(providers), threads=threads, reread_beams=reread_beams
    )


def choose_providers(configured: Sequence[str]) -> list[str]:
    """The configured onnxruntime providers, else CUDA when this onnxruntime can use it, else CPU."""
    if configured:
        return list(configured)
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def model_digest(file_digests: Mapping[str, str] | str) -> str:
    """One sha256 for the model: over its manifest's `digest  name` lines (sha256sum style),
    sorted by name; a manifest that states a single digest gives that digest."""
    if isinstance(file_digests, str):
        return file_digests
    lines = "".join(f"{digest}  {name}\n" for name, digest in sorted(file_digests.items()))
    return hashlib.sha256(lines.encode()).hexdigest()
