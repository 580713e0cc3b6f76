"""The two measures behind `etude eval` (onnxruntime only, no torch).

- `synthetic_ser`: the exported model reads held-out rendered staves (shards never trained on);
  symbol error rate = token edit distance / reference tokens, overall and per source kind.
- `devset_notes`: `etude transcribe` runs on every case of an omr-bench case folder (built by
  make_cases.py) and the MusicXML it writes is scored against the case's ground truth
  (note and pitch precision/recall/F1 per tier, noteheads summed over the tier's cases).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from training.evaluation.notes import Counts, load_measures, score_measures
from training.evaluation.ser import edit_distance


def synthetic_ser(
    model_dir: Path,
    data: Path,
    limit: int | None = None,
    reread_beams: int = 0,
    batch: int = 16,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    from recognition.recognizer import StaffRecognizer
    from training.data.shards import load_folder

    recognizer = StaffRecognizer.load(model_dir, reread_beams=reread_beams)
    images, references, kinds = load_folder(data, limit)
    if not images:
        raise FileNotFoundError(f"no shards in {data}; render some with python -m training.data.build")
    order = sorted(range(len(images)), key=lambda i: images[i].shape[1])
    edits: dict[str, int] = {}
    totals: dict[str, int] = {}
    exact: dict[str, int] = {}
    counts: dict[str, int] = {}
    started = time.perf_counter()
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        staves = [images[i].astype("float32") / 255 for i in chunk]
        readings = recognizer.recognize(staves)
        # each held-out staff stands alone: its own time signature or usual bar length is the metre
        readings = [recognizer.reread_page([s], [r])[0] for s, r in zip(staves, readings, strict=True)]
        for i, reading in zip(chunk, readings, strict=True):
            for kind in (kinds[i], "all"):
                e = edit_distance(references[i], reading.tokens)
                edits[kind] = edits.get(kind, 0) + e
                totals[kind] = totals.get(kind, 0) + len(references[i])
                exact[kind] = exact.get(kind, 0) + (e == 0)
                counts[kind] = counts.get(kind, 0) + 1
        done = min(start + batch, len(order))
        log(f"ser: {done}/{len(order)} staves, SER so far {edits['all'] / totals['all']:.4f}")
    seconds = time.perf_counter() - started
    figures: dict[str, Any] = {
        kind: {
            "ser": round(edits[kind] / totals[kind], 4),
            "staves": counts[kind],
            "exact_staves": round(exact[kind] / counts[kind], 4),
        }
        for kind in sorted(counts)
    }
    figures["seconds_per_staff"] = round(seconds / len(images), 4)
    return figures | {"model": str(model_dir), "data": str(data)}


def devset_notes(
    cases_dir: Path,
    model_dir: Path | None,
    tiers: list[str] | None = None,
    limit: int | None = None,
    timeout: float = 900,
    reread_beams: int = 0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    env = {**os.environ, "ETUDE_OMR_REREAD_BEAMS": str(reread_beams)}
    cases = json.loads((cases_dir / "cases.json").read_text())
    chosen = tiers or sorted({c["tier"] for c in cases})
    out_dir = Path(tempfile.mkdtemp(prefix="etude-eval-"))
    summary: dict[str, Any] = {}
    for tier in chosen:
        rows = [c for c in cases if c["tier"] == tier][: limit or None]
        totals = {"note": Counts(), "pitch": Counts()}
        failed, seconds, pages = 0, 0.0, 0
        for case in rows:
            out = out_dir / f"{tier}-{case['case']}.musicxml"
            cmd = [
                sys.executable,
                "-m",
                "etude_cli.main",
                "transcribe",
                str(cases_dir / case["pdf"]),
                "-o",
                str(out),
                "-q",
            ]
            if model_dir is not None:
                cmd += ["--model-dir", str(model_dir)]
            started = time.perf_counter()
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
                code, err = proc.returncode, proc.stderr.strip()
            except subprocess.TimeoutExpired:
                code, err = -1, "timeout"
            took = time.perf_counter() - started
            truth = load_measures(cases_dir / case["gt"])
            result: list = []
            status = "ok"
            if code != 0 or not out.exists():
                failed += 1
                status = f"FAILED rc={code} {err.splitlines()[-1] if err else ''}"
            else:
                try:
                    result = load_measures(out)
                except Exception as error:  # unreadable output counts as nothing recognised
                    failed += 1
                    status = f"UNREADABLE {type(error).__name__}: {error}"
            figures = score_measures(truth, result)
            for kind in totals:
                totals[kind].add(figures[kind])
            seconds += took
            pages += int(case["pages"])
            note = figures["note"].figures()
            log(
                f"{tier:14s} {case['case']:32s} note F1 {note['f1']:.3f} pitch F1 "
                f"{figures['pitch'].figures()['f1']:.3f} {took:6.1f}s {case['pages']}p {status}"
            )
        summary[tier] = {
            "note": totals["note"].figures(),
            "pitch": totals["pitch"].figures(),
            "cases": len(rows),
            "failed": failed,
            "s_per_page": round(seconds / max(pages, 1), 2),
        }
    return summary
