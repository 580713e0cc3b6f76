"""One entry point for every score format: by name, or by a file name's suffix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath

from etude.ir.v1 import score_pb2


# The writers are imported when first used: a command that only checks a file name's suffix
# (etude transcribe, before its first line) does not load MusicXML, MIDI and JSON support.
def to_musicxml(score: score_pb2.Score) -> bytes:
    from ir.musicxml import to_musicxml as write

    return write(score)


def to_mxl(score: score_pb2.Score) -> bytes:
    from ir.musicxml import to_mxl as write

    return write(score)


def to_midi(score: score_pb2.Score) -> bytes:
    from ir.midi import to_midi as write

    return write(score)


def to_json_bytes(score: score_pb2.Score) -> bytes:
    from ir.json_io import to_json_bytes as write

    return write(score)


@dataclass(frozen=True)
class ExportFormat:
    """A score format. This registry is the only list of them: the CLI's suffixes, the gateway's
    REST names, gRPC enum values, MIME types and file names all derive from it."""

    name: str  # the REST `?format=` value
    grpc_name: str  # the JobService ScoreFormat value, without its SCORE_FORMAT_ prefix
    content_type: str
    suffixes: tuple[str, ...]  # the first is the one to give new files
    write: Callable[[score_pb2.Score], bytes]

    @property
    def suffix(self) -> str:
        return self.suffixes[0]


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat(
            "musicxml",
            "MUSICXML",
            "application/vnd.recordare.musicxml+xml",
            (".musicxml", ".xml"),
            to_musicxml,
        ),
        ExportFormat("mxl", "MXL", "application/vnd.recordare.musicxml", (".mxl",), to_mxl),
        ExportFormat("midi", "MIDI", "audio/midi", (".mid", ".midi"), to_midi),
        ExportFormat("json", "IR_JSON", "application/json", (".json",), to_json_bytes),
        ExportFormat(
            "pb",
            "IR_PROTO",
            "application/x-protobuf",
            (".pb",),
            lambda score: score.SerializeToString(deterministic=True),
        ),
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
