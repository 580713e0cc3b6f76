"""A page that shows no time signature is re-read against the one in force where the last page ended."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from omr_server.errors import LimitExceeded
from omr_server.pipeline import DocumentRequest, OmrEngine
from recognition.meter import last_metre
from tests.omr.conftest import requires_model, server_settings
from tests.omr.engraving import images_to_pdf
from tests.omr.pdfs import piano_pages, piano_pdf


@requires_model
async def test_each_page_is_reread_with_the_metre_the_page_before_left_in_force() -> None:
    engine = await OmrEngine.load(server_settings())
    reread_page = engine.recognizer.reread_page
    calls: list[tuple[Fraction | None, Fraction | None]] = []  # (carried in, in force after)

    def recording(images: Sequence[np.ndarray], readings: Sequence[Any], carried: Fraction | None = None):
        calls.append((carried, last_metre([r.symbols for r in readings], carried)))
        return reread_page(images, readings, carried)

    engine.recognizer.reread_page = recording  # type: ignore[method-assign]
    try:
        events = [event async for event in engine.run(DocumentRequest(piano_pdf(60)))]
    finally:
        await engine.close()
    assert sum(event.WhichOneof("event") == "page" for event in events) == 2
    (first_in, first_out), (second_in, _) = calls
    assert first_in is None  # nothing is in force before the first page
    assert first_out == Fraction(4)  # the piece's 4/4, read on the first page
    assert second_in == first_out


@requires_model
async def test_a_page_that_fails_ends_the_document_without_leaving_the_next_one_waiting() -> None:
    # the next page waits for this page's metre: a failed page must not leave it waiting forever
    short, long = piano_pages(60)[1].image, piano_pages(60)[0].image  # 6 and 14 staves
    engine = await OmrEngine.load(server_settings(max_staves_per_page=10))
    events = []
    try:
        with pytest.raises(LimitExceeded, match="page 1 holds 14 staves"):
            async for event in engine.run(DocumentRequest(images_to_pdf([short, long, short]))):
                events.append(event)
    finally:
        await engine.close()
    assert [event.page.page_index for event in events if event.WhichOneof("event") == "page"] == [0]
