"""Which part and staff of the score each detected staff is, and which hand plays it.

Systems on one page normally repeat the same staves. A system of two staves joined by a brace
is a piano grand staff: upper staff right hand, lower staff left hand. Two joined staves
without a visible brace are most likely a grand staff too, with less confidence. Anything else
keeps its hand unknown.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from etude.ir.v1 import events_pb2, score_pb2

from ir.build import part_id, staff_id
from omr_server.staves.layout import System

BRACED_CONFIDENCE = 0.95
JOINED_CONFIDENCE = 0.7
SPACING_CONFIDENCE = 0.6


@dataclass(frozen=True)
class StaffSlot:
    part_id: str
    staff_id: str
    staff_number: int
    hand: events_pb2.Hand.ValueType
    hand_confidence: float


def _system_slots(system: System) -> list[tuple[int, int, events_pb2.Hand.ValueType, float]]:
    """(part number, staff number, hand, confidence) for each staff of a system, top to bottom."""
    count = len(system.staves)
    if count == 2:
        confidence = (
            BRACED_CONFIDENCE
            if system.braced_pairs
            else JOINED_CONFIDENCE
            if system.joined
            else SPACING_CONFIDENCE
        )
        return [(1, 1, events_pb2.HAND_RIGHT, confidence), (1, 2, events_pb2.HAND_LEFT, confidence)]
    slots: list[tuple[int, int, events_pb2.Hand.ValueType, float]] = []
    part = 0
    index = 0
    while index < count:
        part += 1
        if index in system.braced_pairs and index + 1 < count:
            slots.append((part, 1, events_pb2.HAND_RIGHT, BRACED_CONFIDENCE))
            slots.append((part, 2, events_pb2.HAND_LEFT, BRACED_CONFIDENCE))
            index += 2
        else:
            slots.append((part, 1, events_pb2.HAND_UNKNOWN, 0.0))
            index += 1
    return slots


def page_slots(
    systems: tuple[System, ...] | list[System],
) -> tuple[list[list[StaffSlot]], list[score_pb2.Part]]:
    """Slots per system (same order as its staves) and the page's parts.

    The page's layout is that of its most common system shape; a system of another shape maps
    its staves onto that layout top to bottom (extra staves become parts of their own).
    """
    if not systems:
        return [], []
    shapes = Counter(len(system.staves) for system in systems)
    model = next(s for s in systems if len(s.staves) == shapes.most_common(1)[0][0])
    model_slots = _system_slots(model)
    per_system: list[list[StaffSlot]] = []
    parts: dict[str, score_pb2.Part] = {}
    for system in systems:
        raw = model_slots if len(system.staves) == len(model.staves) else _system_slots(system)
        slots = []
        for part_number, staff_number, hand, confidence in raw:
            slot = StaffSlot(
                part_id(part_number), staff_id(part_number, staff_number), staff_number, hand, confidence
            )
            slots.append(slot)
            part = parts.setdefault(slot.part_id, score_pb2.Part(id=slot.part_id))
            if all(staff.id != slot.staff_id for staff in part.staves):
                part.staves.add(id=slot.staff_id, number=staff_number, hand=hand)
        per_system.append(slots)
    for part in parts.values():
        part.name = "Piano" if len(part.staves) == 2 else ""
    return per_system, list(parts.values())
