"""Real training staves from scanned editions: `python -m training.data.scans --out data/real`.

Each movement of a corpus that has a scan (`reference-edition/<stem>.pdf`) and a kern truth
(`kern/<stem>.krn`) becomes staff crops labelled with the truth tokens of exactly the measures
they show:

1. pages → systems → staves with the OMR server's own layout stages and crop convention, so a
   crop is exactly what serving feeds the model;
2. every staff is read with the current model and split at its barlines;
3. the kern marks the edition's own line and page breaks (`!!LO:LB` / `!!LO:PB`), so it says
   which measures each printed system holds; the sequence of detected systems is aligned to
   the kern's systems by dynamic programming on how well the readings match the truth (skipping
   systems of a neighbouring movement or title page, and systems the detector missed);
4. a staff is kept when its system aligned and its reading is close enough to the truth that
   the pairing cannot be a coincidence (`KEEP_SER`); the label is the truth, not the reading.

Movements held out for evaluation (the omr-bench Mozart dev set and the Beethoven dev split)
are never read. The report gives the yield per corpus and per reason for rejection.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import music21 as m21
import numpy as np
from rapidfuzz.distance import Levenshtein

from recognition.crop import DEFAULT_HEIGHT
from recognition.loader import load_recognizer
from recognition.manifest import default_model_dir
from recognition.recognizer import StaffRecognizer
from recognition.vocabulary import BARLINES, VocabularyError, symbols_to_tokens
from training.data.corpus import Unsupported, _clef, _states, _time, part_measures
from training.data.devset import BEETHOVEN, MOZART, beethoven_dev_movements, devset_tiers
from training.data.score import Measure, Piece, spell_accidentals, staff_symbols
from training.data.shards import write_shard
from training.shared import shared_dir

DPI = 300  # the OMR server's default rasterisation
# A kept staff's reading differs from its truth in at most this share of the truth's tokens.
# The current model reads scans at ~0.2-0.4: a wrong pairing (another system's measures)
# scores ~0.8-1.0, so 0.5 keeps hard staves without admitting coincidences.
KEEP_SER = 0.5
# Two systems are only paired when their readings match the truth this well (mean SER).
PAIR_SER = 0.75
BREAK = re.compile(r"^!+(?:\t!+)*\t?!*LO:(LB|PB)\b|^!!LO:(LB|PB)\b")


# ---- the kern side -------------------------------------------------------------------------


def system_starts(kern_text: str) -> list[int]:
    """Index (in music21's measure order) of the first measure of every printed system: the
    kern's `LO:LB`/`LO:PB` layout marks of the original edition. Measures are counted as
    music21 counts them: a barline closes a measure only if data came since the last one."""
    starts = [0]
    closed = 0
    data_since_bar = False
    for line in kern_text.splitlines():
        if not line:
            continue
        if line.startswith("!"):
            if "LO:LB" in line or "LO:PB" in line:
                start = closed + 1 if data_since_bar else closed  # a break inside a bar: next one
                if start != starts[-1]:
                    starts.append(start)
            continue
        if line.startswith("*"):
            continue
        if line.startswith("="):
            if data_since_bar:
                closed += 1
            data_since_bar = False
        else:
            data_since_bar = True
    return starts


@dataclass
class KernMovement:
    parts: list[list[tuple[Measure | None, Fraction]]]  # top staff first
    barlines: list[list[tuple[bool, str]]]  # per part, per measure: (left repeat, right style)
    starts: list[int]  # first measure of each printed system

    @property
    def measure_count(self) -> int:
        return min(len(p) for p in self.parts)

    def system_spans(self) -> list[range]:
        count = self.measure_count
        ends = [min(end, count) for end in [*self.starts[1:], count]]
        return [range(a, b) for a, b in zip(self.starts, ends, strict=True) if b > a]


def barline_styles(measures: Sequence[m21.stream.Measure]) -> list[tuple[bool, str]]:
    """(starts with a repeat sign, style of its right barline) of each measure, as printed.
    music21 reads kern's start-repeat `=!|:` as a heavy-light right barline of the measure
    before, and the closing `==` as a double barline."""
    out = []
    for measure in measures:
        right = measure.rightBarline
        if isinstance(right, m21.bar.Repeat) and right.direction == "end":
            out.append((False, "repeat-end"))
            continue
        kind = getattr(right, "type", "regular")
        style = {"final": "final", "light-heavy": "final", "double": "double", "light-light": "double"}
        out.append((False, style.get(kind, "regular")))
    for i, measure in enumerate(measures):
        left = measure.leftBarline
        before = measures[i - 1].rightBarline if i else None
        if (isinstance(left, m21.bar.Repeat) and left.direction == "start") or (
            getattr(before, "type", None) == "heavy-light"
        ):
            out[i] = (True, out[i][1])
    if out and out[-1][1] == "double":
        out[-1] = (out[-1][0], "final")
    return out


def read_kern(path: Path) -> KernMovement:
    score = m21.converter.parse(str(path))
    if not isinstance(score, m21.stream.Score):
        raise ValueError(f"{path} is not a score")
    parts = list(score.parts)
    measures: list[list[tuple[Measure | None, Fraction]]] = [list(part_measures(p)) for p in parts]
    for part, readable in zip(parts, measures, strict=True):
        apply_stray_signatures(part, readable)
    barlines = [barline_styles(list(p.getElementsByClass(m21.stream.Measure))) for p in parts]
    return KernMovement(measures, barlines, system_starts(path.read_text(errors="replace")))


def apply_stray_signatures(part: m21.stream.Part, measures: list[tuple[Measure | None, Fraction]]) -> None:
    """music21's kern reader leaves a key, time or clef change that follows a barline without a
    measure number (`=||` then `*k[...]`) in the part, outside every measure: give it to the
    measure that starts there, as printed."""
    starts = [m.offset for m in part.getElementsByClass(m21.stream.Measure)]
    kinds = (m21.key.KeySignature, m21.meter.TimeSignature, m21.clef.Clef)
    for element in part.getElementsByClass(kinds):
        if element.offset not in starts:
            continue
        measure = measures[starts.index(element.offset)][0]
        if measure is None:
            continue
        if isinstance(element, m21.key.KeySignature):
            measure.key = int(element.sharps)
        elif isinstance(element, m21.meter.TimeSignature):
            measure.time = _time(element)
        else:
            try:
                measure.clef = _clef(element)
            except Unsupported:
                continue


def truth_tokens(movement: KernMovement, part: int, span: range) -> list[str] | None:
    """The tokens of one staff showing the measures `span`: the clef and key the system prints
    at its start, a time signature only where the kern has one, the barlines as printed.
    None when a measure is not expressible in the vocabulary."""
    piece = truth_piece(movement, part, span)
    if piece is None:
        return None
    try:
        return symbols_to_tokens(staff_symbols(piece, 0))
    except (VocabularyError, ValueError, KeyError):
        return None


def truth_piece(movement: KernMovement, part: int, span: range) -> Piece | None:
    """One staff of the measures `span` as the system prints it (see `truth_tokens`)."""
    source = movement.parts[part]
    if any(source[i][0] is None for i in span):
        return None
    states = _states(source)  # type: ignore[arg-type]  # (None, 0) marks an unreadable measure
    measures: list[Measure] = []
    for j, i in enumerate(span):
        src, _ = source[i]
        assert src is not None
        left_repeat, end = (
            movement.barlines[part][i] if i < len(movement.barlines[part]) else (False, "regular")
        )
        m = Measure(
            [list(v) for v in src.voices], src.clef, src.key, src.time, left_repeat=left_repeat, end=end
        )
        if j == 0:
            clef, key, _ = states[i]
            m.clef, m.key = clef, key
        measures.append(m)
    piece = Piece([measures], [source[i][1] for i in span])
    spell_accidentals(piece)
    return piece


# ---- the scan side -------------------------------------------------------------------------


@dataclass
class ReadStaff:
    crop: np.ndarray  # uint8, ink = 255, model height
    tokens: list[str]


@dataclass
class ReadSystem:
    page: int
    index: int  # on its page
    staves: list[ReadStaff]


def read_scan(pdf: Path, recognizer: StaffRecognizer) -> Iterator[ReadSystem]:
    """Every system of the scan, read greedily, through the server's layout stages."""
    import pypdfium2 as pdfium

    from omr_server.pages.rasterise import rasterise_page
    from omr_server.staves.detect import detect_layout
    from omr_server.staves.straighten import straight_crops

    document = pdfium.PdfDocument(str(pdf))
    try:
        for page in range(len(document)):
            layout = detect_layout(rasterise_page(document, page, DPI))
            # the crops of omr_server.pages.worker (PdfWorker.lay_out): bowed staves followed
            layout, crops, _ = straight_crops(layout, recognizer.input_height)
            readings = []
            for first in range(0, len(crops), 16):
                readings += recognizer.recognize(crops[first : first + 16])
            k = 0
            for index, system in enumerate(layout.systems):
                staves = []
                for _ in system.staves:
                    image = (np.clip(crops[k], 0, 1) * 255).round().astype(np.uint8)
                    staves.append(ReadStaff(image, list(readings[k].tokens)))
                    k += 1
                yield ReadSystem(page, index, staves)
    finally:
        document.close()


# ---- alignment ----------------------------------------------------------------------------


def symbol_error(read: Sequence[str], truth: Sequence[str]) -> float:
    return Levenshtein.distance(list(read), list(truth)) / max(1, len(truth))


def align_systems(cost: list[list[float | None]], max_cost: float = PAIR_SER) -> list[tuple[int, int]]:
    """Monotonic pairing of read systems (rows) with truth systems (columns) that maximises the
    summed match value 1 - cost; None or cost > max_cost never pair; both sides may skip."""
    rows, cols = len(cost), len(cost[0]) if cost else 0
    best = np.zeros((rows + 1, cols + 1))
    move = np.zeros((rows + 1, cols + 1), np.int8)  # 0 skip row, 1 skip col, 2 pair
    for r in range(1, rows + 1):
        for c in range(1, cols + 1):
            options = [best[r - 1, c], best[r, c - 1]]
            value = cost[r - 1][c - 1]
            options.append(best[r - 1, c - 1] + 1 - value if value is not None and value <= max_cost else -1)
            move[r, c] = int(np.argmax(options))
            best[r, c] = options[move[r, c]]
    pairs = []
    r, c = rows, cols
    while r > 0 and c > 0:
        if move[r, c] == 2:
            pairs.append((r - 1, c - 1))
            r, c = r - 1, c - 1
        elif move[r, c] == 0:
            r -= 1
        else:
            c -= 1
    return pairs[::-1]


@dataclass
class Kept:
    crop: np.ndarray
    tokens: list[str]
    source: dict[str, object]


@dataclass
class MovementResult:
    kept: list[Kept] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    staves: int = 0


def barline_count(tokens: Sequence[str]) -> int:
    return sum(1 for t in tokens if t in BARLINES)


def align_movement(
    corpus: str, stem: str, movement: KernMovement, systems: list[ReadSystem]
) -> MovementResult:
    result = MovementResult(staves=sum(len(s.staves) for s in systems))
    spans = movement.system_spans()
    parts = len(movement.parts)
    truths = [[truth_tokens(movement, p, span) for p in range(parts)] for span in spans]
    cost: list[list[float | None]] = []
    for system in systems:
        row: list[float | None] = []
        for labels in truths:
            if len(system.staves) != parts or any(t is None for t in labels):
                row.append(None)
                continue
            errors = [symbol_error(s.tokens, t) for s, t in zip(system.staves, labels, strict=True) if t]
            row.append(sum(errors) / len(errors))
        cost.append(row)
    pairs = dict(align_systems(cost))
    for r, system in enumerate(systems):
        if r not in pairs:
            count = len(system.staves)
            reason = "system not aligned" if count == parts else f"system of {count} staves"
            result.reasons[reason] += count
            continue
        c = pairs[r]
        for p, staff in enumerate(system.staves):
            truth = truths[c][p]
            assert truth is not None
            error = symbol_error(staff.tokens, truth)
            if barline_count(staff.tokens) != barline_count(truth) and error > KEEP_SER / 2:
                result.reasons["bar count differs"] += 1
            elif error > KEEP_SER:
                result.reasons["reading too far from truth"] += 1
            elif len(truth) >= 500:
                result.reasons["too many tokens"] += 1
            else:
                result.reasons["kept"] += 1
                source = {
                    "corpus": corpus,
                    "movement": stem,
                    "page": system.page + 1,
                    "system": system.index + 1,
                    "staff": p + 1,
                    "measures": [spans[c].start, spans[c].stop],
                    "ser": round(error, 3),
                }
                result.kept.append(Kept(staff.crop, truth, source))
    unusable = sum(1 for t in truths if any(x is None for x in t))
    result.reasons["kern systems outside the vocabulary"] += unusable  # counted in systems, not staves
    return result


# ---- the command --------------------------------------------------------------------------


def training_pairs(corpora: Path) -> list[tuple[str, Path, Path]]:
    """(corpus, kern, scan) of every scanned movement that evaluation does not hold out."""
    held_out = {p for paths in devset_tiers(corpora).values() for p in paths}
    held_out |= set(beethoven_dev_movements(corpora))
    out = []
    for corpus in (MOZART, BEETHOVEN):
        for kern in sorted((corpora / corpus / "kern").glob("*.krn")):
            scan = corpora / corpus / "reference-edition" / f"{kern.stem}.pdf"
            if scan.exists() and kern not in held_out:
                out.append((corpus, kern, scan))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("data/real"))
    ap.add_argument("--shared", type=Path, default=None, help="the shared folder (default: ../shared)")
    ap.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped one)")
    ap.add_argument("--only", default="", help="comma list of movement stems (for a quick look)")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    corpora = shared_dir(a.shared) / "corpora"
    recognizer = load_recognizer(a.model or default_model_dir(), reread_beams=0, threads=a.threads)
    if recognizer.input_height != DEFAULT_HEIGHT:
        raise SystemExit(f"model input height {recognizer.input_height} != {DEFAULT_HEIGHT}")
    a.out.mkdir(parents=True, exist_ok=True)
    done_path = a.out / "movements.jsonl"
    only = set(filter(None, a.only.split(",")))
    for corpus, kern, scan in training_pairs(corpora):
        shard = a.out / f"shard-{corpus.split('-')[0]}-{kern.stem}.npz"
        if shard.exists() or (only and kern.stem not in only):
            continue  # resumable: a movement's shard is written whole or not at all
        record = read_movement(corpus, kern, scan, recognizer, shard)
        with done_path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)
    print(json.dumps(report(done_path)), flush=True)


def read_movement(corpus: str, kern: Path, scan: Path, recognizer: StaffRecognizer, shard: Path) -> dict:
    """Align one movement, write its kept staves as one shard (also when none are kept, so a
    restart skips it) and return its record for the report."""
    started = time.time()
    record: dict[str, object] = {"movement": f"{corpus}/{kern.stem}", "corpus": corpus}
    kept: list[Kept] = []
    try:
        movement = read_kern(kern)
        systems = list(read_scan(scan, recognizer))
        result = align_movement(corpus, kern.stem, movement, systems)
    except Exception as error:  # a kern music21 cannot read, a scan PDFium cannot: report, go on
        record["error"] = f"{type(error).__name__}: {error}"
    else:
        kept = result.kept
        record |= {
            "staves": result.staves,
            "kern_systems": len(movement.system_spans()),
            "read_systems": len(systems),
            "reasons": dict(result.reasons),
            "kept": [k.source for k in kept],
        }
    kind = f"scan-{corpus.split('-')[0]}"
    write_shard(shard, [(k.crop, k.tokens, kind) for k in kept])
    record["seconds"] = round(time.time() - started, 1)
    return record


def report(done_path: Path) -> dict[str, object]:
    """Yield per corpus: staves found, kept, and rejected per reason."""
    out: dict[str, dict[str, int]] = {}
    for line in done_path.read_text().splitlines():
        record = json.loads(line)
        totals = out.setdefault(record["corpus"], Counter())
        totals["movements"] += 1
        totals["staves found"] += record.get("staves", 0)
        for reason, count in record.get("reasons", {}).items():
            totals[reason] += count
        if "error" in record:
            totals["kern unreadable"] += 1
    return {"yield": out}


if __name__ == "__main__":
    main()
