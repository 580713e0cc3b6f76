"""Regenerates the Python code for protos/ into gen/ (the only generated code in the repo).

uv run python tools/generate_protos.py           # write gen/
uv run python tools/generate_protos.py --check   # fail if gen/ is stale
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
GEN = ROOT / "gen"


def generate(out: Path) -> None:
    files = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--mypy_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_grpc_out={out}",
        *files,
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")
    # Packages so that `etude.ir.v1` imports as a regular package.
    for folder in [out / "etude", *(p for p in (out / "etude").rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()


def differences(a: Path, b: Path) -> list[str]:
    cmp = filecmp.dircmp(a, b)
    out = [f"{a.name}/{n}" for n in cmp.left_only + cmp.right_only + cmp.diff_files]
    for sub in cmp.common_dirs:
        out += differences(a / sub, b / sub)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only check that gen/ is fresh")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        if args.check:
            stale = differences(Path(tmp) / "etude", GEN / "etude") if (GEN / "etude").exists() else ["gen/"]
            if stale:
                sys.exit("generated code is stale; run tools/generate_protos.py: " + ", ".join(stale))
            print("generated code is fresh")
            return
        shutil.rmtree(GEN, ignore_errors=True)
        shutil.copytree(tmp, GEN)
    print(f"wrote {GEN}")


if __name__ == "__main__":
    main()
