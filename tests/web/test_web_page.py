"""The web page in a real browser against a real gateway.

The whole flow runs twice: against `etude serve all` (gateway and OMR server with the committed
model, one process) and against the gateway in front of the OMR test double (the real gRPC
protocol, a fixed fragment every 2 s). Each gateway runs in a subprocess with SQLite and a local
object folder in a temporary directory, a bearer token required. Headless Chromium, driven by
Playwright, uploads a two-page engraved PDF and follows the job's events live; the test checks
what a person would see: pages marked done as they complete, the original page drawn, the
recognised measures of that page engraved by Verovio with exactly the notes the gateway's IR
holds, and downloads that are the gateway's exports byte for byte. Screenshots are kept (see
`screenshot_dir`).

Skips, saying why, when Chromium is not installed (Debian: apt-get install chromium); the model
run also skips where no trained model is installed.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway.conftest import real_model_missing
from tests.storage.fixtures import free_port
from tests.web.servers import (
    ROOT,
    TOKEN,
    Gateway,
    engraved_pdf,
    gateway_env,
    running,
    wait_until_ready,
)

CHROMIUM = os.environ.get("ETUDE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Cold start (model load) plus recognising two pages on a small shared CPU.
JOB_TIMEOUT_MS = 240_000

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium; or set ETUDE_CHROMIUM)",
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """`etude serve all`: the gateway and the OMR server with the committed model, one process."""
    home = tmp_path_factory.mktemp("serve-all")
    http_port, omr_port = free_port(), free_port()
    log = home / "serve-all.log"
    command = [sys.executable, "-m", "etude_cli.main", "serve", "all"]
    with running(command, gateway_env(home, http_port, omr_port), home, log) as process:
        url = f"http://127.0.0.1:{http_port}"
        wait_until_ready(url, process, log)
        yield Gateway(url, log, "model")


@pytest.fixture(scope="module")
def slow_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The gateway in front of the OMR test double (tests/gateway/omr_double.py: the real gRPC
    protocol, a small fixed fragment per page) answering one page every 2 s: time to cancel."""
    home = tmp_path_factory.mktemp("gateway-double")
    http_port, omr_port = free_port(), free_port()
    double = [sys.executable, "-m", "tests.gateway.omr_double", "--port", str(omr_port), "--page-delay", "2"]
    gateway = [sys.executable, "-m", "gateway"]
    env = gateway_env(home, http_port, omr_port)
    with (
        running(double, env, ROOT, home / "omr-double.log"),
        running(gateway, env, home, home / "gateway.log") as process,
    ):
        url = f"http://127.0.0.1:{http_port}"
        wait_until_ready(url, process, home / "gateway.log")
        yield Gateway(url, home / "gateway.log", "omr-double")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """Where screenshots go: $ETUDE_SCREENSHOT_DIR when set (to look at them), else a temp dir."""
    folder = Path(os.environ.get("ETUDE_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# [paper, ink, all] pixels of the original's canvas (an undrawn canvas is all transparent).
CANVAS_INK = """() => {
  const canvas = document.querySelector('#original canvas');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let paper = 0, ink = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] < 255) continue;
    if (data[i] > 200) paper++;
    else if (data[i] < 100) ink++;
  }
  return [paper, ink, data.length / 4];
}"""


def notes_on_page(ir: dict[str, Any], page: int, below: float = 2.0) -> int:
    """How many of the IR's notes are on a page (with a confidence below `below`)."""
    measures = {m.get("index", 0) for m in ir.get("measures", []) if m.get("page_index", 0) == page}
    return sum(
        1
        for note in ir.get("notes", [])
        if note.get("measure_index", 0) in measures and note.get("confidence", 1.0) < below
    )


@pytest.fixture(params=["omr-double", "model"])
def backend(request: pytest.FixtureRequest) -> Gateway:
    """The whole flow runs against the OMR test double (always) and the real model (when one is
    installed: `etude serve all`)."""
    if request.param == "model":
        if real_model_missing() is not None:
            pytest.skip(str(real_model_missing()))
        gateway: Gateway = request.getfixturevalue("gateway")
        return gateway
    slow: Gateway = request.getfixturevalue("slow_gateway")
    return slow


def test_upload_watch_compare_and_download(
    backend: Gateway, browser: Any, tmp_path: Path, screenshot_dir: Path
) -> None:
    gateway = backend
    pdf = engraved_pdf(tmp_path, (3, 4))
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # The token arrives in the fragment, as a person would paste a link; the page keeps it.
    page.goto(f"{gateway.url}/#token={TOKEN}")
    assert page.input_value("#token") == TOKEN

    page.set_input_files("#pdf-file", str(pdf))
    page.click("#upload-button")
    # While the job runs: pages turn green one by one, the original is already on screen.
    page.wait_for_selector("#pages li.done", timeout=JOB_TIMEOUT_MS)
    page.wait_for_selector("#original canvas", timeout=30_000)
    page.screenshot(path=str(screenshot_dir / f"web-{gateway.label}-live.png"), full_page=True)
    page.wait_for_selector('#job-state[data-state="OMR_COMPLETED"]', timeout=JOB_TIMEOUT_MS)
    page.wait_for_function(
        "document.body.dataset.rendered && document.body.dataset.rendered.endsWith(':0')", timeout=60_000
    )
    job_id = page.evaluate("document.body.dataset.rendered.split(':')[0]")
    page.screenshot(path=str(screenshot_dir / f"web-{gateway.label}-page-1.png"), full_page=True)

    with gateway.api() as api:
        job = api.get(f"/v1/jobs/{job_id}").json()["job"]
        ir = api.get(f"/v1/jobs/{job_id}/score", params={"format": "json"}).json()
        exports = {
            fmt: api.get(f"/v1/jobs/{job_id}/score", params={"format": fmt}).content
            for fmt in ("musicxml", "midi", "json")
        }
    assert job["page_count"] == 2

    # Pages were marked as they completed, from the live event stream.
    assert page.locator("#pages li.done").count() == 2
    page_events = page.locator('#event-log li[data-kind="page"]').all_text_contents()
    assert page_events, "no page event reached the page while the job ran"
    assert page_events[-1].endswith("page 2 done")

    # The original page is drawn next to the recognised one: white paper with black ink on it
    # (an undrawn canvas is all transparent).
    paper, ink, total = page.evaluate(CANVAS_INK)
    assert paper > total / 2, (paper, ink, total)
    assert ink > 1000, (paper, ink, total)

    # Verovio engraved exactly the notes the IR has on each page.
    for index in (0, 1):
        if index == 1:
            page.click("#next-page")
            page.wait_for_function(f"document.body.dataset.rendered === '{job_id}:{index}'", timeout=60_000)
            page.screenshot(path=str(screenshot_dir / f"web-{gateway.label}-page-2.png"), full_page=True)
        expected = notes_on_page(ir, index)
        assert expected > 0, f"the recogniser found no notes on page {index + 1}"
        assert page.locator("#score svg").count() >= 1
        assert page.locator("#score g.note").count() == expected
        # The notes read with low confidence, and only those, are marked.
        doubtful = notes_on_page(ir, index, below=0.5)
        assert page.locator("#score g.note.low-confidence").count() == doubtful
        assert page.is_visible("#confidence-key") == (doubtful > 0)

    # Downloads are the gateway's exports, byte for byte.
    for fmt, suffix in (("musicxml", ".musicxml"), ("midi", ".mid"), ("json", ".json")):
        with page.expect_download() as info:
            page.click(f'#downloads button[data-format="{fmt}"]')
        download = info.value
        assert download.suggested_filename == pdf.stem + suffix
        assert Path(download.path()).read_bytes() == exports[fmt]

    # The job list shows the job.
    page.click("#refresh-jobs")
    page.wait_for_selector(f'#jobs tr[data-job-id="{job_id}"]')

    # After a reload the page reopens the job (#job= in the address) and the original is drawn
    # again, now from the gateway's copy of the PDF.
    page.reload()
    page.wait_for_function(f"document.body.dataset.rendered === '{job_id}:0'", timeout=60_000)
    page.wait_for_selector("#original canvas", timeout=30_000)
    paper, ink, total = page.evaluate(CANVAS_INK)
    assert paper > total / 2 and ink > 1000, (paper, ink, total)
    assert page.inner_text("#job-state") == "done"
    page.screenshot(path=str(screenshot_dir / f"web-{gateway.label}-reloaded.png"), full_page=True)
    assert errors == [], errors
    context.close()


def test_wrong_token_shows_the_problem(slow_gateway: Gateway, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{slow_gateway.url}/#token=not-a-token")
    page.wait_for_selector("#jobs-error:not([hidden])")
    assert "unknown token" in page.inner_text("#jobs-error")
    context.close()


def test_cancel_from_the_page(slow_gateway: Gateway, browser: Any, tmp_path: Path) -> None:
    pdf = engraved_pdf(tmp_path, (5, 6))
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{slow_gateway.url}/#token={TOKEN}")
    page.set_input_files("#pdf-file", str(pdf))
    page.click("#upload-button")
    page.wait_for_selector('#job-state[data-state="OMR_PROCESSING"]', timeout=30_000)
    page.click("#cancel-button")
    page.wait_for_selector('#job-state[data-state="CANCELLED"]', timeout=30_000)
    assert page.is_hidden("#cancel-button")
    assert page.is_hidden("#downloads")
    assert page.is_visible("#job-error")
    context.close()


def test_an_upload_that_is_not_a_pdf_is_refused_with_the_reason(
    slow_gateway: Gateway, browser: Any, tmp_path: Path
) -> None:
    not_a_pdf = tmp_path / "notes.pdf"
    not_a_pdf.write_text("these are not sheet music")
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{slow_gateway.url}/#token={TOKEN}")
    page.set_input_files("#pdf-file", str(not_a_pdf))
    page.click("#upload-button")
    page.wait_for_selector("#upload-error:not([hidden])")
    assert "not a PDF" in page.inner_text("#upload-error")
    assert page.is_hidden("#job-section")
    context.close()


def test_the_gateway_serves_the_page_files_with_types_browsers_accept(slow_gateway: Gateway) -> None:
    # Module scripts load only with a JavaScript type; WebAssembly compiles while streaming only
    # as application/wasm. The mapping comes from Python's mimetypes, so check what is sent.
    expected = {
        "/": "text/html",
        "/app.js": "javascript",
        "/vendor/verovio/verovio-module.mjs": "javascript",
        "/vendor/pdfjs/pdf.worker.min.mjs": "javascript",
        "/vendor/pdfjs/wasm/openjpeg.wasm": "application/wasm",
        "/style.css": "text/css",
    }
    with httpx.Client(base_url=slow_gateway.url) as client:
        for path, content_type in expected.items():
            response = client.get(path)
            assert response.status_code == 200, path
            assert content_type in response.headers["content-type"], (path, response.headers["content-type"])


# What the OMR double's page 1 is made to say, by rewriting the page score the browser fetches:
# its first note read with low confidence, and a warning on its second measure.
LOW_NOTE_CONFIDENCE = 0.2
INJECTED_WARNING = {
    "code": "WARNING_CODE_MEASURE_DURATION",
    "message": "measure 1: content (P1-S1 3 beats) does not match its time signature (4 beats)",
    "page_index": 0,
}


def _doubt_the_first_page(route: Any) -> None:
    response = route.fetch()
    ir = response.json()
    ir["notes"][0]["confidence"] = LOW_NOTE_CONFIDENCE
    ir["warnings"] = [INJECTED_WARNING]
    route.fulfill(response=response, json=ir)


def test_pages_appear_as_they_are_read_and_the_job_survives_a_reload(
    slow_gateway: Gateway, browser: Any, tmp_path: Path, screenshot_dir: Path
) -> None:
    """Five pages at 2 s each: the first page's score is on screen, with its doubtful note marked
    and its warning listed, while the others are still being read; the state is said in words;
    a reload and a fresh browser (the job opened from the list) still show the original."""
    from tests.gateway.pdfs import blank_pdf

    pdf = tmp_path / "five-pages.pdf"
    pdf.write_bytes(blank_pdf(5, size=(600, 800), label="Etude web test"))
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.route("**/v1/jobs/*/pages/0/score?format=json", _doubt_the_first_page)
    page.goto(f"{slow_gateway.url}/#token={TOKEN}")
    page.wait_for_selector("#token-form:not([hidden])", timeout=10_000)  # tokens are required here
    page.set_input_files("#pdf-file", str(pdf))
    page.click("#upload-button")

    page.wait_for_function(
        "/^reading page [2-5] of 5$/.test(document.querySelector('#job-state').textContent)", timeout=30_000
    )
    page.wait_for_function("(document.body.dataset.preview || '').endsWith(':0')", timeout=30_000)
    # Seen before the job completed: the first page's score, from that page alone.
    assert page.get_attribute("#job-state", "data-state") == "OMR_PROCESSING"
    state_words = page.inner_text("#job-state")
    assert state_words.startswith("reading page ") or state_words == "putting the score together", state_words
    job_id = page.evaluate("document.body.dataset.preview.split(':')[0]")
    with slow_gateway.api() as api:
        first = api.get(f"/v1/jobs/{job_id}/pages/0/score").json()
    assert page.locator("#score g.note").count() == len(first["notes"])
    assert page.locator("#score g.note.low-confidence").count() == 1
    assert page.is_visible("#confidence-key")
    warnings = page.locator("#warnings li").all_text_contents()
    assert warnings == [
        "page 1, measure 2: a measure's length does not match its time signature — "
        "content (P1-S1 3 beats) does not match its time signature (4 beats)"
    ], warnings
    page.screenshot(path=str(screenshot_dir / "web-live-page-1.png"), full_page=True)

    # Zoom: each side on its own.
    width = page.evaluate("document.querySelector('#score svg').getBoundingClientRect().width")
    page.click('.zoom[data-pane="score"] button[data-zoom="in"]')
    page.click('.zoom[data-pane="score"] button[data-zoom="in"]')
    zoomed = page.evaluate("document.querySelector('#score svg').getBoundingClientRect().width")
    assert zoomed > width * 1.4, (width, zoomed)
    assert page.inner_text('.zoom[data-pane="score"] output') == "150%"
    assert page.inner_text('.zoom[data-pane="original"] output') == "100%"
    page.screenshot(path=str(screenshot_dir / "web-live-zoomed.png"), full_page=True)

    page.wait_for_selector('#job-state[data-state="OMR_COMPLETED"]', timeout=60_000)
    assert page.inner_text("#job-state") == "done"
    page.wait_for_function(f"document.body.dataset.rendered === '{job_id}:0'", timeout=60_000)

    # A reload reopens the job, original and all.
    page.reload()
    page.wait_for_function(f"document.body.dataset.rendered === '{job_id}:0'", timeout=60_000)
    assert page.locator("#original canvas").count() == 1
    assert page.inner_text("#job-title") == "five-pages.pdf"

    # Another browser, nothing cached: the job opened from the list shows its original too.
    fresh = browser.new_context(viewport={"width": 1400, "height": 1000})
    other = fresh.new_page()
    other.goto(f"{slow_gateway.url}/#token={TOKEN}")
    other.click(f'#jobs tr[data-job-id="{job_id}"]')
    other.wait_for_selector("#original canvas", timeout=30_000)
    other.wait_for_function(f"document.body.dataset.rendered === '{job_id}:0'", timeout=60_000)
    assert other.locator("#jobs tr[data-job-id] td").nth(1).inner_text() == "done"
    other.screenshot(path=str(screenshot_dir / "web-opened-from-list.png"), full_page=True)
    fresh.close()
    assert errors == [], errors
    context.close()


def test_the_token_box_shows_only_when_tokens_are_required(slow_gateway: Gateway, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{slow_gateway.url}/#token={TOKEN}")
    page.wait_for_selector("#token-form:not([hidden])")
    # The same page against a gateway that needs no token (its config answer, stood in for).
    page.route("**/v1/config", lambda route: route.fulfill(json={"auth_required": False}))
    page.reload()
    page.wait_for_selector("#jobs tbody tr, #jobs-error:not([hidden])")
    page.wait_for_timeout(300)
    assert page.is_hidden("#token-form")
    context.close()


def _engraved_pngs(folder: Path, seeds: tuple[int, int], names: tuple[str, str]) -> list[Path]:
    """Engraved piano pages as PNG files (made-up music, see tests/omr/engraving.py)."""
    from tests.omr.engraving import engraved_pages, piano_kern
    from tests.omr.images import encode

    paths = []
    for seed, name in zip(seeds, names, strict=True):
        image = engraved_pages(piano_kern(8, seed=seed, title=f"Image test {seed}"))[0].image
        path = folder / name
        path.write_bytes(encode(image, "PNG", dpi=150))
        paths.append(path)
    return paths


# Width and height of the original's canvas.
CANVAS_SIZE = "() => { const c = document.querySelector('#original canvas'); return [c.width, c.height]; }"


def test_page_images_uploaded_as_one_document_and_shown_beside_the_score(
    slow_gateway: Gateway, browser: Any, tmp_path: Path, screenshot_dir: Path
) -> None:
    """Two PNG pages chosen together (in the wrong order: the page sorts them by file name,
    numbers as numbers) become one two-page job; each original page image is drawn beside its
    score while the job runs, after it completes and after a reload (from the gateway's copy)."""
    from PIL import Image

    second, first = _engraved_pngs(tmp_path, (7, 8), ("page-10.png", "page-2.png"))
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{slow_gateway.url}/#token={TOKEN}")
    assert "image/png" in (page.get_attribute("#pdf-file", "accept") or "")
    assert page.get_attribute("#pdf-file", "multiple") is not None
    assert "order of their file names" in page.inner_text("#upload-hint")

    page.set_input_files("#pdf-file", [str(second), str(first)])
    assert page.locator("#upload-files li").all_text_contents() == ["page-2.png", "page-10.png"]
    assert page.is_hidden("#upload-error")
    page.click("#upload-button")
    page.wait_for_selector("#original canvas", timeout=30_000)
    page.wait_for_selector('#job-state[data-state="OMR_COMPLETED"]', timeout=60_000)
    page.wait_for_function(
        "document.body.dataset.rendered && document.body.dataset.rendered.endsWith(':0')", timeout=60_000
    )
    job_id = page.evaluate("document.body.dataset.rendered.split(':')[0]")
    sizes = [Image.open(path).size for path in (first, second)]
    assert page.evaluate(CANVAS_SIZE) == list(sizes[0])  # page 1 is page-2.png
    paper, ink, total = page.evaluate(CANVAS_INK)
    assert paper > total / 2 and ink > 1000, (paper, ink, total)
    assert page.get_attribute("#original", "data-kind") == "image"
    assert page.locator("#score svg").count() >= 1
    assert page.inner_text("#job-meta").startswith("No title found in the document")
    page.screenshot(path=str(screenshot_dir / "web-images-page-1.png"), full_page=True)

    with slow_gateway.api() as api:
        job = api.get(f"/v1/jobs/{job_id}").json()["job"]
        stored = [api.get(f"/v1/jobs/{job_id}/original/{n}").content for n in (0, 1)]
    assert job["page_count"] == 2 and job["file_name"] == "page-2.png"
    assert stored == [first.read_bytes(), second.read_bytes()]

    page.click("#next-page")
    page.wait_for_function(f"document.body.dataset.rendered === '{job_id}:1'", timeout=60_000)
    page.wait_for_function(f"document.querySelector('#original').dataset.shown === '{job_id}:1'")
    assert page.evaluate(CANVAS_SIZE) == list(sizes[1])

    # After a reload the original pages come from the gateway.
    page.reload()
    page.wait_for_function(f"document.body.dataset.rendered === '{job_id}:0'", timeout=60_000)
    page.wait_for_function(f"document.querySelector('#original').dataset.shown === '{job_id}:0'")
    assert page.evaluate(CANVAS_SIZE) == list(sizes[0])
    paper, ink, total = page.evaluate(CANVAS_INK)
    assert paper > total / 2 and ink > 1000, (paper, ink, total)
    page.click("#next-page")
    page.wait_for_function(f"document.querySelector('#original').dataset.shown === '{job_id}:1'")
    assert page.evaluate(CANVAS_SIZE) == list(sizes[1])
    page.screenshot(path=str(screenshot_dir / "web-images-reloaded-page-2.png"), full_page=True)
    assert errors == [], errors
    context.close()


def test_a_multi_page_tiff_is_shown_page_by_page(
    slow_gateway: Gateway, browser: Any, tmp_path: Path, screenshot_dir: Path
) -> None:
    """Browsers draw no TIFF: the original of a two-frame TIFF is drawn from the gateway's PNG of
    each frame (?as=png&frame=K), page by page, right after the upload and after a reload."""
    from PIL import Image

    frames = [
        Image.open(path).convert("L") for path in _engraved_pngs(tmp_path, (11, 12), ("a.png", "b.png"))
    ]
    frames[1] = frames[1].resize((frames[1].width * 3 // 4, frames[1].height * 3 // 4))  # tell them apart
    tiff = tmp_path / "scan.tiff"
    frames[0].save(tiff, "TIFF", save_all=True, append_images=frames[1:], compression="tiff_lzw")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{slow_gateway.url}/#token={TOKEN}")
    page.set_input_files("#pdf-file", str(tiff))
    page.click("#upload-button")
    page.wait_for_selector("#original canvas", timeout=30_000)
    page.wait_for_function(
        "document.querySelector('#original').dataset.shown?.endsWith(':0')", timeout=30_000
    )
    job_id = page.evaluate("document.querySelector('#original').dataset.shown.split(':')[0]")
    for reload in (False, True):
        if reload:
            page.reload()
            page.wait_for_function(f"document.querySelector('#original').dataset.shown === '{job_id}:0'")
        assert page.evaluate(CANVAS_SIZE) == list(frames[0].size)
        paper, ink, total = page.evaluate(CANVAS_INK)
        assert paper > total / 2 and ink > 1000, (paper, ink, total)
        page.wait_for_selector("#next-page:not([disabled])", timeout=60_000)
        page.click("#next-page")
        page.wait_for_function(f"document.querySelector('#original').dataset.shown === '{job_id}:1'")
        assert page.evaluate(CANVAS_SIZE) == list(frames[1].size)
    page.screenshot(path=str(screenshot_dir / "web-tiff-page-2.png"), full_page=True)
    assert errors == [], errors
    context.close()


def test_unsupported_files_are_refused_in_the_page(
    slow_gateway: Gateway, browser: Any, tmp_path: Path
) -> None:
    gif = tmp_path / "scan.gif"
    gif.write_bytes(b"GIF89a" + b"\0" * 20)
    pdf = tmp_path / "score.pdf"
    pdf.write_bytes(engraved_pdf(tmp_path, (9, 10)).read_bytes())
    from PIL import Image

    png = tmp_path / "page.png"
    Image.new("L", (200, 260), 255).save(png)
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{slow_gateway.url}/#token={TOKEN}")
    page.set_input_files("#pdf-file", str(gif))
    page.wait_for_selector("#upload-error:not([hidden])")
    assert 'scan.gif" (image/gif) is not a PDF or a PNG, JPEG, TIFF or WebP image' in page.inner_text(
        "#upload-error"
    )
    assert page.is_disabled("#upload-button")
    page.set_input_files("#pdf-file", [str(pdf), str(png)])
    assert "Choose one PDF, or page images only" in page.inner_text("#upload-error")
    assert page.is_disabled("#upload-button")
    page.set_input_files("#pdf-file", str(png))
    assert page.is_hidden("#upload-error") and page.is_enabled("#upload-button")

    # Dropped files go the same way: checked, and put in page order by name.
    page.evaluate(DROP, [["b-10.png", "image/png"], ["b-9.png", "image/png"]])
    assert page.locator("#upload-files li").all_text_contents() == ["b-9.png", "b-10.png"]
    assert page.is_hidden("#upload-error") and page.is_enabled("#upload-button")
    page.evaluate(DROP, [["notes.txt", "text/plain"]])
    assert '"notes.txt" (text/plain) is not a PDF' in page.inner_text("#upload-error")
    assert page.is_disabled("#upload-button")
    assert page.is_hidden("#job-section")
    context.close()


# Drops files ([name, type] pairs, a few bytes each) on the drop zone, as a person would.
DROP = """(files) => {
  const transfer = new DataTransfer();
  for (const [name, type] of files) transfer.items.add(new File([new Uint8Array([1, 2, 3])], name, { type }));
  const zone = document.querySelector('#drop-zone');
  zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
}"""
