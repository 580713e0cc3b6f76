"""The browser page's files: the vendored libraries are the npm releases package.json names,
byte for byte, and every file the page loads is there."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "gateway" / "web"
STATIC = WEB / "static"
VENDOR = STATIC / "vendor"


def test_vendored_files_match_the_manifest() -> None:
    manifest = json.loads((VENDOR / "MANIFEST.json").read_text())
    for name, entry in manifest["files"].items():
        data = (VENDOR / name).read_bytes()
        assert len(data) == entry["size"], name
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], f"{name} differs from the npm release"
    on_disk = {p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*") if p.is_file()}
    assert on_disk - set(manifest["files"]) == {"MANIFEST.json", "verovio/NOTICE"}


def test_vendored_versions_are_the_pinned_ones() -> None:
    manifest = json.loads((VENDOR / "MANIFEST.json").read_text())
    pinned = json.loads((WEB / "package.json").read_text())["devDependencies"]
    assert {name: info["version"] for name, info in manifest["packages"].items()} == pinned


def test_every_local_file_the_page_loads_exists() -> None:
    html = (STATIC / "index.html").read_text()
    scripts = [(STATIC / "app.js").read_text(), (STATIC / "sse.js").read_text()]
    referenced = set(re.findall(r'(?:src|href)="([^":#]+)"', html))
    for script in scripts:
        referenced |= set(re.findall(r'import\s*\(?\s*"\./([^"]+)"', script))
        referenced |= set(re.findall(r'from\s+"\./([^"]+)"', script))
        referenced |= set(re.findall(r'new URL\("([^"]+)", location\.href\)', script))
    assert {"app.js", "style.css", "sse.js", "vendor/verovio/verovio-module.mjs"} <= referenced
    for name in referenced:
        assert (STATIC / name).exists(), f"the page loads {name}, which is missing"
