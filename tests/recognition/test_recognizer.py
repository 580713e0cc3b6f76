"""The committed model through onnxruntime (no torch needed)."""

import itertools

import numpy as np
import pytest

from recognition.crop import crop_staff
from recognition.manifest import default_model_dir, load_manifest
from recognition.recognizer import StaffRecognizer
from recognition.vocabulary import TOKENS, tokens_to_symbols

MODEL_DIR = default_model_dir()
pytestmark = pytest.mark.skipif(not (MODEL_DIR / "manifest.json").exists(), reason="no committed model")


def drawn_staff(width: int, notes: int, seed: int) -> np.ndarray:
    """A page with one staff and some filled noteheads and stems, cut like a detected staff."""
    rng = np.random.default_rng(seed)
    page = np.full((400, width + 100), 255, np.uint8)
    for k in range(5):
        page[150 + 20 * k : 152 + 20 * k, 50 : width + 50] = 0
    for x in np.linspace(120, width, notes).astype(int):
        y = 150 + 10 * int(rng.integers(-2, 10))
        yy, xx = np.ogrid[-8:9, -11:12]
        page[y - 8 : y + 9, x - 11 : x + 12][(yy / 8.5) ** 2 + (xx / 11.5) ** 2 <= 1] = 0
        page[y - 70 : y, x + 10 : x + 12] = 0
    return crop_staff(page, 150.5, 230.5, 50, width + 49, height=96)


@pytest.fixture(scope="module")
def recognizer():
    return StaffRecognizer.load(MODEL_DIR)


def test_manifest_matches_the_code(recognizer):
    manifest = load_manifest(MODEL_DIR)
    assert manifest.vocabulary == list(TOKENS)
    assert recognizer.input_height == manifest.input_height == 96
    assert "CPUExecutionProvider" in recognizer.providers


def test_readings_are_tokens_with_probabilities_and_symbols(recognizer):
    images = [drawn_staff(600, 8, 0), drawn_staff(300, 3, 1)]
    readings = recognizer.recognize(images)
    assert len(readings) == 2
    for reading in readings:
        assert len(reading.tokens) == len(reading.token_probs)
        assert all(t in TOKENS for t in reading.tokens)
        assert all(0.0 < p <= 1.0 for p in reading.token_probs)
        assert reading.symbols == tokens_to_symbols(reading.tokens, reading.token_probs)


def test_padding_in_a_batch_does_not_change_a_reading(recognizer):
    narrow, wide = drawn_staff(300, 3, 1), drawn_staff(900, 12, 2)
    alone = recognizer.recognize([narrow])[0]
    batched = recognizer.recognize([wide, narrow])[1]
    assert batched.tokens == alone.tokens
    # different GEMM blockings for different widths move probabilities by ~1e-3, never the tokens
    assert np.allclose(batched.token_probs, alone.token_probs, atol=1e-2)


def test_bad_input_is_refused_clearly(recognizer):
    assert recognizer.recognize([]) == []
    with pytest.raises(ValueError, match=r"expected \(96, W >= 8\)"):
        recognizer.recognize([np.zeros((64, 300), np.float32)])


def test_the_shipped_model_says_where_it_read_each_notehead(recognizer):
    """The grafted position head (token_x): every token gets a column inside the crop, and the
    noteheads of a voice are read at increasing columns near where they were drawn."""
    assert recognizer.has_positions
    image = drawn_staff(600, 8, 0)
    (reading,) = recognizer.recognize([image])
    assert reading.token_x is not None and len(reading.token_x) == len(reading.tokens)
    assert all(0 <= x < image.shape[1] for x in reading.token_x)
    heads = [s.x for s in reading.symbols if hasattr(s, "staff_position") and not s.chord and s.voice == 1]
    assert len(heads) >= 5 and all(x is not None for x in heads)
    # within a voice, left to right; a notehead read twice (0.5.0 reads this made-up staff's last
    # one twice) is placed twice at one column, give or take a pixel
    assert all(right > left - 2 for left, right in itertools.pairwise(heads))
    # drawn at page columns 120 … 600 (crop_staff: page column c lands near (c - 30) * 0.4)
    drawn = [(c - 30) * 0.4 for c in np.linspace(120, 600, 8)]
    assert min(abs(heads[0] - d) for d in drawn) < 8 and min(abs(heads[-1] - d) for d in drawn) < 8
