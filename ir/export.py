"""One entry point for every score format: by name, or by a file name's suffix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath

from etude.ir.v1 import score_pb2

from ir.json_io import to_json
from ir.midi import to_midi
from ir.musicxml import to_musicxml, to_mxl


@dataclass(frozen=True)
class ExportFormat:
    name: str
    content_type: str
    suffixes: tuple[str, ...]  # the first is the one to give new files
    write: Callable[[score_pb2.Score], bytes]


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat(
            "musicxml", "application/vnd.recordare.musicxml+xml", (".musicxml", ".xml"), to_musicxml
        ),
        ExportFormat("mxl", "application/vnd.recordare.musicxml", (".mxl",), to_mxl),
        ExportFormat("midi", "audio/midi", (".mid", ".midi"), to_midi),
        ExportFormat("json", "application/json", (".json",), lambda score: to_json(score).encode("utf-8")),
        ExportFormat("pb", "application/x-protobuf", (".pb",), lambda score: score.SerializeToString()),
    )
}


def export_score(score: score_pb2.Score, fmt: str) -> tuple[bytes, str]:
    """(file bytes, content type) of the score in format `fmt` (a FORMATS name)."""
    try:
        export_format = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown score format {fmt!r}; expected one of {', '.join(FORMATS)}") from None
    return export_format.write(score), export_format.content_type


def format_for_path(path: str | PurePath) -> str:
    """The format name a file's suffix asks for (case-insensitive): "score.MXL" → "mxl"."""
    suffix = PurePath(path).suffix.lower()
    for export_format in FORMATS.values():
        if suffix in export_format.suffixes:
            return export_format.name
    known = ", ".join(s for f in FORMATS.values() for s in f.suffixes)
    raise ValueError(f"cannot tell the score format of {str(path)!r} from its suffix; use one of {known}")
