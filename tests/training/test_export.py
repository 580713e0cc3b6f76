"""The ONNX graphs (encoder + decoder step with a key/value cache) decode exactly like PyTorch."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from recognition.manifest import ManifestError, load_manifest  # noqa: E402
from recognition.recognizer import StaffRecognizer, padded_width  # noqa: E402
from recognition.vocabulary import BOS_ID, EOS_ID, TOKENS  # noqa: E402
from tests.training.tiny_model import export_to, tiny_config  # noqa: E402
from training.model import StaffModel  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.manual_seed(0)
    model = StaffModel(tiny_config()).eval()
    return model, export_to(model, tmp_path_factory.mktemp("model"))


def test_onnx_greedy_equals_pytorch_greedy(tiny):
    model, folder = tiny
    rng = np.random.default_rng(1)
    images = [rng.random((96, w)).astype(np.float32) * (rng.random((96, w)) > 0.8) for w in (200, 333, 96)]
    recognizer = StaffRecognizer.load(folder)
    onnx_ids, onnx_probs = recognizer.recognize_ids(images)
    batch = torch.zeros(3, 1, 96, padded_width(333))
    for k, img in enumerate(images):
        batch[k, 0, :, : img.shape[1]] = torch.from_numpy(img)
    torch_ids, torch_probs = model.greedy(batch, torch.tensor([200, 333, 96]), BOS_ID, EOS_ID)
    assert onnx_ids == torch_ids
    assert len(onnx_ids[0]) > 0
    assert np.allclose(onnx_probs[0], torch_probs[0], atol=1e-4)


def test_manifest_records_the_files_and_catches_tampering(tiny):
    _, folder = tiny
    manifest = load_manifest(folder)
    assert manifest.vocabulary == list(TOKENS) and manifest.input_height == 96
    assert set(manifest.sha256) == {"encoder.onnx", "decoder_step.onnx"}
    original = (folder / "decoder_step.onnx").read_bytes()
    try:
        (folder / "decoder_step.onnx").write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        with pytest.raises(ManifestError, match="sha256"):
            load_manifest(folder)
    finally:
        (folder / "decoder_step.onnx").write_bytes(original)
