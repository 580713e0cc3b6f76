"""Look at the real-scan labels: `python -m training.data.scans_check data/real --out /tmp/label-check`.

Draws random kept staves of `training.data.scans` (fixed seed) as their scan crop above a
Verovio engraving of their truth label, cut by the same crop convention, five to an image,
so a person can compare what is printed with what the label says. The images stay outside
the repository (the corpora must never be committed or shipped).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
from PIL import Image

from recognition.crop import crop_staff
from training.data.musicxml import piece_to_musicxml
from training.data.render import engrave
from training.data.scans import KernMovement, read_kern, truth_piece
from training.data.shards import read_shard
from training.shared import shared_dir

PER_IMAGE = 5


def kept_staves(real: Path) -> list[tuple[dict, np.ndarray]]:
    """(source, crop) of every kept staff, in the order the shards hold them."""
    out = []
    for line in (real / "movements.jsonl").read_text().splitlines():
        record = json.loads(line)
        if not record.get("kept"):
            continue
        corpus, stem = record["movement"].split("/")
        images, _, _ = read_shard(real / f"shard-{corpus.split('-')[0]}-{stem}.npz")
        out += list(zip(record["kept"], images, strict=True))
    return out


def engraved_label(movement: KernMovement, source: dict) -> np.ndarray:
    piece = truth_piece(movement, int(source["staff"]) - 1, range(*source["measures"]))
    assert piece is not None
    rng = random.Random(0)
    engraving = engrave(piece_to_musicxml(piece, rng=None, decorations=0.0), rng, 1, 12.0)
    g = engraving.staves[0]
    crop = crop_staff(engraving.page, g.top, g.bottom, g.left, g.right)
    return (crop * 255).round().astype(np.uint8)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("real", type=Path, help="output folder of training.data.scans")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shared", type=Path, default=None)
    a = ap.parse_args(argv)
    corpora = shared_dir(a.shared) / "corpora"
    staves = kept_staves(a.real)
    chosen = random.Random(a.seed).sample(staves, min(a.count, len(staves)))
    a.out.mkdir(parents=True, exist_ok=True)
    movements: dict[str, KernMovement] = {}
    rows: list[np.ndarray] = []
    index = []
    for k, (source, crop) in enumerate(chosen):
        name = f"{source['corpus']}/{source['movement']}"
        if name not in movements:
            movements[name] = read_kern(corpora / source["corpus"] / "kern" / f"{source['movement']}.krn")
        rows += [crop, engraved_label(movements[name], source), np.zeros((8, 1), np.uint8)]
        index.append({"image": k // PER_IMAGE + 1, **source})
        if len(rows) == 3 * PER_IMAGE or k == len(chosen) - 1:
            width = max(r.shape[1] for r in rows)
            canvas = np.zeros((sum(r.shape[0] for r in rows), width), np.uint8)
            y = 0
            for r in rows:
                canvas[y : y + r.shape[0], : r.shape[1]] = r
                y += r.shape[0]
            Image.fromarray(255 - canvas).save(a.out / f"check-{k // PER_IMAGE + 1:02d}.png")
            rows = []
    (a.out / "index.json").write_text(json.dumps(index, indent=1))
    print(json.dumps({"staves": len(chosen), "images": a.out.as_posix()}))


if __name__ == "__main__":
    main()
