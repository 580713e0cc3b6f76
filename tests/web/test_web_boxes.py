"""Where each note is, in a real browser: the recognised notes' boxes drawn over the original page,
and the link both ways between a box and the engraved note.

Two runs. Against the OMR test double (always), with boxes put into the IR JSON the page
fetches: the toggle (off at first, remembered), one box per boxed note coloured by confidence,
a click on an engraved note picking its box and a click on a box picking (and scrolling to) its
note. Against `etude serve all` with the shipped model (when it gives positions: its manifest
says `positions`) on the bundled `examples/engraved-piano.pdf`: the boxes land on the notes they
name, read from the original's pixels in the browser (ink inside the box: a notehead), and the
boxes of a chord's notes are stacked like their pitches. Screenshots go to $ETUDE_SCREENSHOT_DIR.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.conftest import real_model_missing
from tests.web.servers import ROOT, TOKEN, Gateway, engraved_pdf
from tests.web.test_web_page import (  # noqa: F401  (fixtures)
    JOB_TIMEOUT_MS,
    browser,
    gateway,
    screenshot_dir,
    slow_gateway,
)

EXAMPLE = ROOT / "examples" / "engraved-piano.pdf"
SCORE_JSON = re.compile(r"/v1/jobs/[0-9a-f]+(/pages/\d+)?/score\?format=json$")
LOW = 0.2  # the confidence given to the second note of every page


def _with_boxes(route: Any) -> None:
    """The IR JSON as the gateway sends it, with a box for every note (a row across the page, as
    if the model had given positions) and the second note of each page read with low confidence."""
    response = route.fetch()
    ir = response.json()
    measures = {m.get("index", 0): m.get("page_index", 0) for m in ir.get("measures", [])}
    seen: dict[int, int] = {}
    for note in ir.get("notes", []):
        page = measures.get(note.get("measure_index", 0), 0)
        position = seen.get(page, 0)
        seen[page] = position + 1
        note["box"] = {
            "page_index": page,
            "x": 0.15 + 0.3 * position,
            "y": 0.3,
            "width": 0.05,
            "height": 0.02,
        }
        if position == 1:
            note["confidence"] = LOW
    route.fulfill(response=response, json=ir)


def _open_job(page: Any, server: Gateway, pdf: Path) -> str:
    page.goto(f"{server.url}/#token={TOKEN}")
    page.set_input_files("#pdf-file", str(pdf))
    page.click("#upload-button")
    page.wait_for_selector('#job-state[data-state="OMR_COMPLETED"]', timeout=JOB_TIMEOUT_MS)
    page.wait_for_function(
        "document.body.dataset.rendered && document.body.dataset.rendered.endsWith(':0')", timeout=60_000
    )
    page.wait_for_selector("#original canvas", timeout=30_000)
    job_id: str = page.evaluate("document.body.dataset.rendered.split(':')[0]")
    return job_id


# The boxes on the original as drawn: id, classes, stroke colour, whether shown, and the rect's
# place on screen.
DRAWN_BOXES = """() => [...document.querySelectorAll('#original rect.box')].map((rect) => {
  const r = rect.getBoundingClientRect();
  const style = getComputedStyle(rect);
  return { id: rect.dataset.noteId, classes: rect.getAttribute('class'), stroke: style.stroke,
           shown: style.display !== 'none' && r.width > 0, x: r.x + r.width / 2, y: r.y + r.height / 2 };
})"""

# Whether an element (by selector) lies wholly inside the pane that holds it.
IN_PANE = """([selector, pane]) => {
  const e = document.querySelector(selector).getBoundingClientRect();
  const p = document.querySelector(pane).getBoundingClientRect();
  return e.top >= p.top - 1 && e.bottom <= p.bottom + 1 && e.left >= p.left - 1 && e.right <= p.right + 1;
}"""


def test_boxes_toggle_colour_and_link_both_ways(
    slow_gateway: Gateway,  # noqa: F811
    browser: Any,  # noqa: F811
    tmp_path: Path,
    screenshot_dir: Path,  # noqa: F811
) -> None:
    pdf = engraved_pdf(tmp_path, (11, 12))
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.route(SCORE_JSON, _with_boxes)
    job_id = _open_job(page, slow_gateway, pdf)
    with slow_gateway.api() as api:
        ir = api.get(f"/v1/jobs/{job_id}/score", params={"format": "json"}).json()
        musicxml = api.get(f"/v1/jobs/{job_id}/score", params={"format": "musicxml"}).text
    first_page = {m.get("index", 0) for m in ir["measures"] if m.get("page_index", 0) == 0}
    ids = [n["id"] for n in ir["notes"] if n.get("measure_index", 0) in first_page]
    assert len(ids) >= 2
    # The exported MusicXML names each note by its IR id; Verovio keeps it as the SVG id.
    assert all(f'<note id="{note_id}"' in musicxml for note_id in ids)
    assert sorted(page.eval_on_selector_all("#score g.note", "gs => gs.map(g => g.id)")) == sorted(ids)
    assert sorted(page.eval_on_selector_all("#score g.note", "gs => gs.map(g => g.dataset.irId)")) == sorted(
        ids
    )

    # Off at first: the boxes are there, hidden.
    assert not page.is_checked("#boxes-toggle")
    drawn = page.evaluate(DRAWN_BOXES)
    assert sorted(box["id"] for box in drawn) == sorted(ids)
    assert not any(box["shown"] for box in drawn)
    page.check("#boxes-toggle")
    drawn = {box["id"]: box for box in page.evaluate(DRAWN_BOXES)}
    assert all(box["shown"] for box in drawn.values())
    # Coloured by confidence, with the score's threshold and colour: the second note is doubtful.
    assert "low-confidence" in drawn[ids[1]]["classes"] and drawn[ids[1]]["stroke"] == "rgb(232, 89, 12)"
    assert "low-confidence" not in drawn[ids[0]]["classes"] and drawn[ids[0]]["stroke"] == "rgb(59, 91, 219)"
    assert page.locator(f'#score g.note.low-confidence[id="{ids[1]}"]').count() == 1
    # Where the IR says: the first box left of the second, both at 30% of the page's height.
    canvas = page.eval_on_selector(
        "#original canvas",
        "c => { const r = c.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; }",
    )
    assert drawn[ids[0]]["x"] < drawn[ids[1]]["x"]
    assert abs(drawn[ids[0]]["y"] - (canvas[1] + 0.31 * canvas[3])) < 2
    page.screenshot(path=str(screenshot_dir / "boxes-double-on.png"), full_page=True)

    # A click on an engraved note picks its box.
    page.click(f'#score g.note[id="{ids[0]}"] g.notehead')
    assert page.evaluate("document.body.dataset.selected") == ids[0]
    assert page.get_attribute(f'#original rect.box[data-note-id="{ids[0]}"]', "class").endswith("selected")
    assert page.locator("#original rect.box.selected").count() == 1
    assert page.locator("#score g.selected").count() == 1
    assert ids[0] in page.inner_text("#selected-note")

    # A click on a box picks its note, and scrolls the score to it (zoomed in, it is out of view).
    for _ in range(4):
        page.click('.zoom[data-pane="score"] button[data-zoom="in"]')
    page.eval_on_selector(
        "#score", "pane => { pane.scrollTop = pane.scrollHeight; pane.scrollLeft = pane.scrollWidth; }"
    )
    page.click(f'#original rect.box[data-note-id="{ids[1]}"]')
    assert page.evaluate("document.body.dataset.selected") == ids[1]
    assert page.locator(f'#score g.note.selected[id="{ids[1]}"]').count() == 1
    assert page.locator("#score g.selected").count() == 1
    assert page.evaluate(IN_PANE, [f'#score g.note[id="{ids[1]}"]', "#score"])
    page.screenshot(path=str(screenshot_dir / "boxes-double-picked.png"), full_page=True)

    # With the boxes off, a picked note's box still shows, alone.
    page.uncheck("#boxes-toggle")
    shown = [box["id"] for box in page.evaluate(DRAWN_BOXES) if box["shown"]]
    assert shown == [ids[1]]
    # The choice is remembered: on after a reload when left on.
    page.check("#boxes-toggle")
    page.reload()
    page.wait_for_function(f"document.body.dataset.rendered === '{job_id}:0'", timeout=60_000)
    page.wait_for_function("Number(document.querySelector('#original').dataset.boxes) > 0", timeout=30_000)
    assert page.is_checked("#boxes-toggle")
    assert all(box["shown"] for box in page.evaluate(DRAWN_BOXES))
    # The other page has its own boxes, and a pick belongs to its page.
    page.click("#next-page")
    page.wait_for_function(f"document.body.dataset.rendered === '{job_id}:1'", timeout=60_000)
    second = {m.get("index", 0) for m in ir["measures"] if m.get("page_index", 0) == 1}
    expected = sorted(n["id"] for n in ir["notes"] if n.get("measure_index", 0) in second)
    assert sorted(box["id"] for box in page.evaluate(DRAWN_BOXES)) == expected
    assert page.evaluate("document.body.dataset.selected") is None
    assert errors == [], errors
    context.close()


def test_without_boxes_the_toggle_is_off_and_says_why(
    slow_gateway: Gateway,  # noqa: F811
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The OMR double's IR has no boxes (a model without positions): nothing is drawn, the toggle
    cannot be used, and the score's notes still link to nothing without an error."""
    pdf = engraved_pdf(tmp_path, (13, 14))
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    _open_job(page, slow_gateway, pdf)
    assert page.get_attribute("#original", "data-boxes") == "0"
    assert page.is_disabled("#boxes-toggle")
    assert "no note on this page has a box" in (page.get_attribute("#boxes-toggle-label", "title") or "")
    page.locator("#score g.note g.notehead").first.click()
    assert page.locator("#original rect.box").count() == 0
    assert "(no box)" in page.inner_text("#selected-note")
    assert errors == [], errors
    context.close()


# ---- the shipped model on the bundled example -------------------------------------------------


def _positions_missing() -> str | None:
    if (why := real_model_missing()) is not None:
        return why
    from recognition.manifest import default_model_dir

    manifest = json.loads((default_model_dir() / "manifest.json").read_text())
    if "positions" not in manifest:
        return f"the model in {default_model_dir()} gives no positions (no `positions` in its manifest)"
    return None


# Per box: the share of dark pixels of the original's canvas inside it (the rect's attributes are
# canvas pixels), and the same for the box moved two of its widths left and right.
BOX_INK = """() => {
  const canvas = document.querySelector('#original canvas');
  const context = canvas.getContext('2d');
  const ink = (x, y, w, h) => {
    const [x0, y0] = [Math.max(0, Math.round(x)), Math.max(0, Math.round(y))];
    const [x1, y1] = [Math.min(canvas.width, Math.round(x + w)), Math.min(canvas.height, Math.round(y + h))];
    if (x1 <= x0 || y1 <= y0) return 0;
    const data = context.getImageData(x0, y0, x1 - x0, y1 - y0).data;
    let dark = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] + data[i + 1] + data[i + 2] < 3 * 128) dark++;
    return dark / (data.length / 4);
  };
  return [...document.querySelectorAll('#original rect.box.note')].map((rect) => {
    const [x, y, w, h] = ['x', 'y', 'width', 'height'].map((name) => Number(rect.getAttribute(name)));
    const beside = Math.min(ink(x - 2 * w, y, w, h), ink(x + 2 * w, y, w, h));
    return { id: rect.dataset.noteId, ink: ink(x, y, w, h), beside };
  });
}"""


def test_boxes_land_on_their_notes_of_the_bundled_example(
    gateway: Gateway,  # noqa: F811
    browser: Any,  # noqa: F811
    screenshot_dir: Path,  # noqa: F811
) -> None:
    if (why := _positions_missing()) is not None:
        pytest.skip(why)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    job_id = _open_job(page, gateway, EXAMPLE)
    with gateway.api() as api:
        ir = api.get(f"/v1/jobs/{job_id}/score", params={"format": "json"}).json()
    first_page = {m.get("index", 0) for m in ir["measures"] if m.get("page_index", 0) == 0}
    notes = [n for n in ir["notes"] if n.get("measure_index", 0) in first_page]
    boxed = [n for n in notes if n.get("box", {}).get("width", 0) > 0]
    assert len(notes) > 50 and len(boxed) >= 0.99 * len(notes), (len(boxed), len(notes))
    page.check("#boxes-toggle")
    assert int(page.get_attribute("#original", "data-boxes") or 0) >= len(boxed)
    page.screenshot(path=str(screenshot_dir / "boxes-example-page-1.png"), full_page=True)

    # A box lands on its notehead: ink fills much of it, more than beside it, for most notes.
    inks = page.evaluate(BOX_INK)
    assert len(inks) == len(boxed)
    on_ink = [box for box in inks if box["ink"] >= 0.3]
    darker = [box for box in inks if box["ink"] > box["beside"]]
    median = statistics.median(box["ink"] for box in inks)
    print(f"{len(inks)} boxes: {len(on_ink)} >= 30% ink, {len(darker)} darker, median {median:.2}")
    assert len(on_ink) >= 0.8 * len(inks), (len(on_ink), len(inks), median)
    assert len(darker) >= 0.7 * len(inks), (len(darker), len(inks))
    assert median >= 0.4, median

    # A chord's boxes are stacked like its pitches (higher on the staff, higher on the page), and
    # share a column: a second's notehead sits one head beside, so within two box widths, for
    # nearly every chord (the model's column is off by more than a space now and then).
    by_id = {n["id"]: n for n in boxed}
    chords = [
        [by_id[i] for i in group["note_ids"] if i in by_id]
        for group in ir.get("chord_groups", [])
        if all(i in by_id for i in group["note_ids"])
    ]
    chords = [chord for chord in chords if len(chord) >= 2]
    assert len(chords) >= 5, len(chords)
    steps = "CDEFGAB"
    in_column = 0
    for chord in chords:
        by_pitch = sorted(
            chord, key=lambda n: 7 * n["pitch"].get("octave", 0) + steps.index(n["pitch"]["step"])
        )
        centres = [n["box"]["y"] + n["box"]["height"] / 2 for n in by_pitch]
        stacked = [(n["id"], n["pitch"], n["box"]) for n in by_pitch]
        assert centres == sorted(centres, reverse=True), stacked
        xs = [n["box"]["x"] + n["box"]["width"] / 2 for n in chord]
        in_column += max(xs) - min(xs) <= 2 * max(n["box"]["width"] for n in chord)
    print(f"{len(chords)} chords stacked by pitch, {in_column} in one column")
    assert in_column >= 0.9 * len(chords), (in_column, len(chords))

    # Click-through on the real score: an engraved chord note picks its box, on ink.
    note_id = chords[0][-1]["id"]
    page.click(f'#score g.note[id="{note_id}"] g.notehead')
    assert page.evaluate("document.body.dataset.selected") == note_id
    assert page.locator(f'#original rect.box.selected[data-note-id="{note_id}"]').count() == 1
    assert page.evaluate(IN_PANE, [f'#original rect.box[data-note-id="{note_id}"]', "#original"])
    page.screenshot(path=str(screenshot_dir / "boxes-example-picked-from-score.png"), full_page=True)
    # Zoomed in, a box picks its engraved note.
    for _ in range(4):
        page.click('.zoom[data-pane="original"] button[data-zoom="in"]')
    other = boxed[len(boxed) // 2]["id"]
    page.eval_on_selector(
        f'#original rect.box[data-note-id="{other}"]',
        "rect => rect.scrollIntoView({ block: 'center', inline: 'center' })",
    )
    page.click(f'#original rect.box[data-note-id="{other}"]')
    assert page.evaluate("document.body.dataset.selected") == other
    assert page.locator(f'#score [data-ir-id="{other}"].selected').count() >= 1
    page.locator("#original").screenshot(path=str(screenshot_dir / "boxes-example-zoomed.png"))
    page.screenshot(path=str(screenshot_dir / "boxes-example-picked-from-box.png"), full_page=True)
    assert errors == [], errors
    context.close()
