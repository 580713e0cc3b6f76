"""Where the notes are lost: `python -m training.evaluation.errors CASES OUTPUTS [--tiers ...]`.

For each case of an omr-bench case folder and the MusicXML `etude eval` wrote for it
(OUTPUTS/<tier>-<case>.musicxml), the measures are aligned as note F1 aligns them
(training.evaluation.notes) and every truth notehead that is not matched is given one cause:

- `measure lost`: its measure has no partner in the result (staves or systems missed or
  mis-grouped, barlines missed or invented: layout and measure alignment);
- `onset`: the result has the same pitch in the measure at another onset (a duration, dot,
  tuplet or rest misread earlier in the voice, or a second voice placed at the wrong onset);
- `pitch: semitone` / `pitch: step` / `pitch: octave`: the result has a note at the same
  onset a semitone (accidental), a few semitones (staff position, clef) or octaves (clef,
  ledger lines, 8va) away;
- `chord tone missed`: other notes of its chord were read, this one not;
- `note missed`: nothing of it was read.

Notes the result has and the truth does not are `extra`. The shares say how much of the lost
note F1 each cause explains; a few examples of each are printed with case and measure.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

from training.evaluation.notes import Measures, Notehead, aligned_pairs, load_measures


def classify(truth: Measures, result: Measures) -> tuple[Counter[str], list[tuple[str, int, Notehead]]]:
    """Causes of the lost noteheads (and extras) of one case; examples as (cause, measure, note)."""
    causes: Counter[str] = Counter()
    examples: list[tuple[str, int, Notehead]] = []
    paired = dict(filled_pairs(truth, result))
    used_result = set(paired.values())
    for i, row in enumerate(truth):
        if i not in paired:
            causes["measure lost"] += len(row)
            examples += [("measure lost", i + 1, n) for n in row[:1]]
            continue
        missed = Counter(row) - Counter(result[paired[i]])
        spare = Counter(result[paired[i]]) - Counter(row)
        matched_onsets = {onset for onset, _ in (Counter(row) & Counter(result[paired[i]])).elements()}
        for note in missed.elements():
            cause = _cause(note, spare, matched_onsets)
            causes[cause] += 1
            examples.append((cause, i + 1, note))
        causes["extra"] += sum(spare.values())
    causes["extra"] += sum(len(row) for j, row in enumerate(result) if j not in used_result)
    return causes, examples


def filled_pairs(truth: Measures, result: Measures) -> list[tuple[int, int]]:
    """Note F1's measure pairs, plus the measures that share no notehead but stand in the same
    gap between two pairs, one for one, when the gap holds as many on both sides (a misread
    measure, not a lost one)."""
    anchors = aligned_pairs(truth, result, key=lambda x: x)
    out: list[tuple[int, int]] = []
    previous = (-1, -1)
    for anchor in [*anchors, (len(truth), len(result))]:
        gap_truth = range(previous[0] + 1, anchor[0])
        gap_result = range(previous[1] + 1, anchor[1])
        if len(gap_truth) == len(gap_result):
            out += zip(gap_truth, gap_result, strict=True)
        if anchor[0] < len(truth):
            out.append(anchor)
        previous = anchor
    return out


def _cause(note: Notehead, spare: Counter[Notehead], matched_onsets: set[str]) -> str:
    onset, midi = note
    same_pitch = [n for n in spare if n[1] == midi and spare[n] > 0]
    if same_pitch:
        spare[same_pitch[0]] -= 1
        return "onset"
    same_onset = sorted((abs(n[1] - midi), n) for n in spare if n[0] == onset and spare[n] > 0)
    if same_onset:
        distance, partner = same_onset[0]
        if distance % 12 == 0:
            spare[partner] -= 1
            return "pitch: octave"
        if distance == 1:
            spare[partner] -= 1
            return "pitch: semitone"
        if distance <= 5:
            spare[partner] -= 1
            return "pitch: step"
    return "chord tone missed" if onset in matched_onsets else "note missed"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", type=Path, help="omr-bench case folder")
    ap.add_argument("outputs", type=Path, help="folder of <tier>-<case>.musicxml results (etude eval)")
    ap.add_argument("--tiers", default="", help="comma-separated tiers (default: those with results)")
    ap.add_argument("--examples", type=int, default=3)
    a = ap.parse_args(argv)
    tiers = set(filter(None, a.tiers.split(",")))
    per_tier: dict[str, Counter[str]] = defaultdict(Counter)
    examples: dict[tuple[str, str], list[str]] = defaultdict(list)
    truth_notes: Counter[str] = Counter()
    for case in json.loads((a.cases / "cases.json").read_text()):
        out = a.outputs / f"{case['tier']}-{case['case']}.musicxml"
        if (tiers and case["tier"] not in tiers) or not out.exists():
            continue
        truth = load_measures(a.cases / case["gt"])
        causes, found = classify(truth, load_measures(out))
        per_tier[case["tier"]].update(causes)
        truth_notes[case["tier"]] += sum(len(row) for row in truth)
        for cause, measure, note in found:
            shown = examples[(case["tier"], cause)]
            if len(shown) < a.examples:
                shown.append(f"{case['case']} m{measure} onset {note[0]} midi {note[1]}")
    report = {}
    for tier, causes in sorted(per_tier.items()):
        lost = sum(causes.values())
        report[tier] = {
            "truth_noteheads": truth_notes[tier],
            "causes": {k: {"noteheads": v, "share": round(v / lost, 3)} for k, v in causes.most_common()},
            "examples": {cause: examples[(tier, cause)] for cause in causes},
        }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
