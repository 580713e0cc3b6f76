"""The model manifest: which files make up a recognition model and how to feed it.

A model folder (default `models/etude-omr-v1/` at the repository root, overridden by
`ETUDE_MODEL_DIR`) holds `manifest.json` and the ONNX graphs it lists with their sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
DEFAULT_MODEL_NAME = "etude-omr-v1"


class ManifestError(ValueError):
    """A model folder that cannot be used: missing, incomplete or altered files."""


@dataclass(frozen=True)
class ModelManifest:
    name: str
    version: str
    files: dict[str, str]  # role ("encoder", "decoder_step") -> file name
    sha256: dict[str, str]  # file name -> hex digest
    vocabulary: list[str]
    input_height: int
    max_tokens: int
    bos_id: int
    eos_id: int
    pad_id: int
    decoder_layers: int
    heads: int
    head_dim: int
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    # of the weights; "int8-decoder": the decoder step's MatMul weights are int8 (training/quantize.py)
    precision: str = "float32"
    # the position head grafted into the decoder step (training/position.py): its output name,
    # unit, training facts and measured error; empty for a model that gives no positions
    positions: dict[str, Any] = field(default_factory=dict)

    def path(self, model_dir: Path, role: str) -> Path:
        return model_dir / self.files[role]


def default_model_dir() -> Path:
    env = os.environ.get("ETUDE_MODEL_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "models" / DEFAULT_MODEL_NAME


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_manifest(model_dir: Path, *, verify: bool = True) -> ModelManifest:
    """Read `manifest.json`; with `verify`, check every listed file exists with its sha256."""
    path = model_dir / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"no {MANIFEST_NAME} in model folder {model_dir}")
    try:
        raw = json.loads(path.read_text())
        manifest = ModelManifest(**raw)
    except (json.JSONDecodeError, TypeError) as exc:
        raise ManifestError(f"{path} is not a valid model manifest: {exc}") from exc
    for role in ("encoder", "decoder_step"):
        if role not in manifest.files:
            raise ManifestError(f"{path} lists no {role} graph")
    if verify:
        for name, expected in manifest.sha256.items():
            file = model_dir / name
            if not file.is_file():
                raise ManifestError(f"model file {file} is missing")
            actual = file_sha256(file)
            if actual != expected:
                raise ManifestError(f"model file {file} has sha256 {actual}, manifest says {expected}")
    return manifest
