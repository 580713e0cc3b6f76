"""Issue 13 #10: a staff reads the same whatever it is batched with (the batcher mixes pages and
requests), so a document's score does not depend on the load, and the cache holds one truth."""

from __future__ import annotations

import random

import numpy as np
import pytest

from recognition.recognizer import StaffRecognizer, padded_width
from tests.example_staves import example_staves
from tests.omr.conftest import MODEL_DIR, requires_model

pytestmark = requires_model


@pytest.fixture(scope="module")
def recognizer() -> StaffRecognizer:
    return StaffRecognizer.load(MODEL_DIR, reread_beams=0)


@pytest.fixture(scope="module")
def staves(recognizer: StaffRecognizer) -> list[np.ndarray]:
    # Pages 0 and 2 of the example: full-width staves and the short ones of a last page.
    return example_staves(0, recognizer.input_height) + example_staves(2, recognizer.input_height)


def test_a_staff_reads_the_same_alone_and_in_any_batch(
    recognizer: StaffRecognizer, staves: list[np.ndarray]
) -> None:
    widths = {padded_width(staff.shape[1]) for staff in staves}
    assert len(widths) >= 2, "the batches must mix staff widths"
    alone = [recognizer.recognize([staff])[0] for staff in staves]
    rng = random.Random(13)
    for size in (2, 5, 9, 16):
        batch = rng.sample(range(len(staves)), min(size, len(staves)))
        batch[0] = len(staves) - 1  # a short staff among wide ones
        read = recognizer.recognize([staves[i] for i in batch])
        for i, reading in zip(batch, read, strict=True):
            # Exact equality, probabilities too: no last-bit drift that could one day flip a token.
            assert reading.tokens == alone[i].tokens, f"staff {i} in a batch of {size}"
            assert reading.token_probs == alone[i].token_probs, f"staff {i} in a batch of {size}"


def test_recognize_ids_matches_recognize(recognizer: StaffRecognizer, staves: list[np.ndarray]) -> None:
    ids, probs = recognizer.recognize_ids(staves[:4])
    readings = recognizer.recognize(staves[:4])
    vocabulary = recognizer.manifest.vocabulary
    assert [[vocabulary[t] for t in row] for row in ids] == [r.tokens for r in readings]
    assert probs == [r.token_probs for r in readings]
