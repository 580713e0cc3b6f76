"""Weights read back out of an exported model folder compute what the exported model computes."""

import pytest

torch = pytest.importorskip("torch")

from recognition.vocabulary import TOKENS  # noqa: E402
from tests.training.tiny_model import export_to, tiny_config  # noqa: E402
from training.from_onnx import load_exported  # noqa: E402
from training.model import StaffModel  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = StaffModel(tiny_config(encoder_layers=2))
    with torch.no_grad():  # as after training: no two tensors alike (the exporter merges equal ones)
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    for norm in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        # trained batch norms are far from their initial identity: folding must be undone properly
        norm.running_mean.uniform_(-0.5, 0.5)
        norm.running_var.uniform_(0.2, 3.0)
        norm.weight.data.uniform_(0.5, 1.5)
        norm.bias.data.uniform_(-0.3, 0.3)
    return model, export_to(model, tmp_path_factory.mktemp("model"))


def _inputs():
    generator = torch.Generator().manual_seed(1)
    images = (torch.rand(3, 1, 96, 256, generator=generator) > 0.85).float()
    tokens = torch.randint(4, len(TOKENS), (3, 12), generator=generator)
    return images, torch.tensor([256, 200, 96]), tokens


@pytest.mark.parametrize("calibrated", [False, True])
def test_read_back_model_gives_the_same_logits(exported, calibrated):
    model, folder = exported
    images, widths, tokens = _inputs()
    restored = load_exported(folder, images if calibrated else None)
    assert restored.cfg == model.cfg
    with torch.no_grad():
        expected = model(images, widths, tokens)
        actual = restored(images, widths, tokens)
    assert torch.allclose(actual, expected, atol=1e-4)


def test_linear_and_embedding_weights_come_back_exactly(exported):
    model, folder = exported
    restored = load_exported(folder).state_dict()
    for name, value in model.state_dict().items():
        if not name.startswith("backbone.") or name.startswith("backbone.proj"):
            assert torch.equal(restored[name], value), name


def test_calibrated_batch_norms_track_real_statistics(exported):
    """Training mode normalises with batch statistics: calibration makes those start where the
    shipped model's folded constants are, so the first training steps do not jump."""
    model, folder = exported
    images = _inputs()[0]
    restored = load_exported(folder, images).train()
    with torch.no_grad():
        in_training_mode = restored.backbone(images)
        shipped = model.backbone(images)
    assert torch.allclose(in_training_mode, shipped, atol=1e-3)


def test_an_int8_model_reads_back_with_dequantised_weights(exported, tmp_path):
    pytest.importorskip("onnxruntime.quantization")
    from recognition.manifest import load_manifest
    from training.quantize import quantize_folder

    model, folder = exported
    quantize_folder(folder, tmp_path / "int8")
    assert load_manifest(tmp_path / "int8").precision == "int8-decoder"
    restored = load_exported(tmp_path / "int8").state_dict()
    linear = [
        name
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and name.startswith(("decoder", "head"))
    ]
    assert linear
    for name in linear:
        weight = model.state_dict()[f"{name}.weight"]
        step = weight.abs().max() / 127  # symmetric int8: half a step of error at most
        assert torch.allclose(restored[f"{name}.weight"], weight, atol=float(step) * 0.51), name
    images, widths, tokens = _inputs()
    with torch.no_grad():
        expected = model(images, widths, tokens)
        actual = load_exported(tmp_path / "int8")(images, widths, tokens)
    assert (actual - expected).abs().max() < 0.05 * expected.abs().max()
