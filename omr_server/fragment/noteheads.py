"""One printed notehead, one note.

Two voices that sound one pitch together share a notehead (one head, two stems), and a note on
ledger lines between the staves of a grand staff lies in both staves' crops: either way the
model can read one notehead twice. The score counts what is printed, and a player hears one
key, so notes of one pitch at one onset whose boxes stand on the same spot are one note. The
one kept is that of the staff the head sits nearer (whose ledger lines it uses), then of the
upper voice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from fractions import Fraction

from etude.ir.v1 import events_pb2, notation_pb2

from ir.build import fraction
from omr_server.fragment.boxes import NOTEHEAD_SPACES

# How far apart (staff spaces) two boxes' centres may be and still be one notehead: a second
# between two voices is printed side by side, a notehead (1.2 spaces) apart.
SAME_SPOT = 0.5


def shared_noteheads(
    notes: Sequence[events_pb2.NoteEvent], staff_middles: Mapping[str, float]
) -> dict[str, str]:
    """Of `notes` (one measure's), each note that repeats another's notehead → the note kept in
    its place. `staff_middles`: each staff's middle line, as a share of the page's height."""
    by_sound: dict[tuple[Fraction, int], list[events_pb2.NoteEvent]] = defaultdict(list)
    for note in notes:
        if not note.grace and note.HasField("box"):
            by_sound[(fraction(note.onset_beats), note.pitch.midi)].append(note)
    repeats: dict[str, str] = {}
    for same in by_sound.values():
        same.sort(key=lambda note: (_spaces_from_staff(note, staff_middles), note.voice))
        kept: list[events_pb2.NoteEvent] = []
        for note in same:
            twin = next((k for k in kept if _same_spot(k.box, note.box)), None)
            if twin is None:
                kept.append(note)
            else:
                repeats[note.id] = twin.id
    return repeats


def _centre_and_space(box: notation_pb2.PageBox) -> tuple[float, float, float, float]:
    width, height = NOTEHEAD_SPACES
    return box.x + box.width / 2, box.y + box.height / 2, box.width / width, box.height / height


def _same_spot(a: notation_pb2.PageBox, b: notation_pb2.PageBox) -> bool:
    ax, ay, space_x, space_y = _centre_and_space(a)
    bx, by, _, _ = _centre_and_space(b)
    return abs(ax - bx) <= SAME_SPOT * space_x and abs(ay - by) <= SAME_SPOT * space_y


def _spaces_from_staff(note: events_pb2.NoteEvent, staff_middles: Mapping[str, float]) -> float:
    middle = staff_middles.get(note.staff_id)
    if middle is None:
        return 0.0
    _, y, _, space_y = _centre_and_space(note.box)
    return abs(y - middle) / space_y if space_y > 0 else 0.0
