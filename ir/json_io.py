"""Score ⇄ JSON, protobuf's canonical JSON mapping with the .proto field names.

Field names are written as in the .proto files (`onset_beats`, not `onsetBeats`); both spellings
are accepted on input. As in every protobuf JSON, int64 values (Rational numerator and
denominator) are written as strings ("3"), and fields at their default value are left out.
"""

from __future__ import annotations

from etude.ir.v1 import score_pb2
from google.protobuf import json_format


def to_json(score: score_pb2.Score) -> str:
    """The one Score → JSON mapping (the CLI's .json and the gateway's stored JSON alike)."""
    return json_format.MessageToJson(score, preserving_proto_field_name=True, indent=1, ensure_ascii=False)


def to_json_bytes(score: score_pb2.Score) -> bytes:
    return to_json(score).encode("utf-8")


def from_json(text: str) -> score_pb2.Score:
    """Parse a Score; raises ValueError saying what is wrong (unknown field, bad value, not JSON)."""
    score = score_pb2.Score()
    try:
        json_format.Parse(text, score)
    except json_format.ParseError as error:
        raise ValueError(f"not an IR v1 Score in JSON: {error}") from None
    return score
