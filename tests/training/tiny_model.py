"""A tiny exported staff model for the torch-only tests (callers importorskip torch first)."""

from pathlib import Path

from recognition.vocabulary import TOKENS
from training.export import export_graphs, write_manifest
from training.model import ModelConfig, StaffModel


def tiny_config(encoder_layers: int = 1) -> ModelConfig:
    return ModelConfig(len(TOKENS), d_model=32, heads=2, encoder_layers=encoder_layers, decoder_layers=2,
                       ff=64, max_tokens=40, channels=(8, 8, 16, 16, 32))  # fmt: skip


def export_to(model: StaffModel, parent: Path) -> Path:
    folder = parent / "tiny"
    folder.mkdir()
    export_graphs(model.eval(), folder)
    write_manifest(folder, model, {"step": 0}, "test", {}, {})
    return folder
