"""The position head: its window expectation, and the graft that adds `token_x` to a decoder step
without changing anything the step already computed."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import onnxruntime as ort  # noqa: E402

from recognition.manifest import load_manifest  # noqa: E402
from recognition.recognizer import StaffRecognizer  # noqa: E402
from tests.training.tiny_model import export_to, tiny_config  # noqa: E402
from training.model import StaffModel  # noqa: E402
from training.position import PositionHead, graft, position_loss, window_position  # noqa: E402


def test_the_window_ignores_a_second_weaker_place() -> None:
    p = torch.zeros(1, 20)
    p[0, 5], p[0, 6], p[0, 15] = 0.5, 0.2, 0.3  # most probable at 5, a rival at 15
    x = float(window_position(p)[0])
    assert abs(x - ((5 * 0.5 + 6 * 0.2) / 0.7 * 8 + 4)) < 1e-4  # columns 4..6 only


def test_the_loss_is_lowest_at_the_label() -> None:
    target = torch.tensor([8 * 3 + 4.0])  # centre of column 3
    logits = torch.full((1, 10), -10.0)
    right, wrong = logits.clone(), logits.clone()
    right[0, 3], wrong[0, 7] = 10.0, 10.0
    assert position_loss(right, target) < position_loss(wrong, target)


def test_graft_adds_token_x_and_leaves_every_other_output_as_it_was(tmp_path) -> None:
    torch.manual_seed(0)
    model = StaffModel(tiny_config()).eval()
    folder = export_to(model, tmp_path)
    before = ort.InferenceSession(str(folder / "decoder_step.onnx"))
    cfg = model.cfg
    graft(folder, PositionHead(cfg.d_model, cfg.heads, cfg.decoder_layers), {"test": True})
    after = ort.InferenceSession(str(folder / "decoder_step.onnx"))
    assert [o.name for o in after.get_outputs()] == ["logits", "new_k", "new_v", "token_x"]
    assert load_manifest(folder).positions["output"] == "token_x"  # sha256 checked on load
    encoder = ort.InferenceSession(str(folder / "encoder.onnx"))
    images = np.random.default_rng(0).random((2, 1, 96, 256)).astype(np.float32)
    cross_k, cross_v, bias = encoder.run(None, {"images": images, "widths": np.array([256, 160])})
    empty = np.zeros((cfg.decoder_layers, 2, cfg.heads, 0, cfg.d_model // cfg.heads), np.float32)
    feed = {
        "token": np.array([[1], [1]]),
        "position": np.array([0]),
        "past_k": empty,
        "past_v": empty,
        "cross_k": cross_k,
        "cross_v": cross_v,
        "cross_bias": bias,
    }
    old, new = before.run(None, feed), after.run(None, feed)
    assert all(np.array_equal(a, b) for a, b in zip(old, new[:3], strict=True))
    assert new[3].shape == (2,) and np.all((new[3] >= 0) & (new[3] < 256))
    assert StaffRecognizer.load(folder).has_positions
