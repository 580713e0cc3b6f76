"""Stitch per-page fragments into one Score.

Each PageFragment counts its measures from 0 and its time from the page start, and may leave
out what the page does not engrave (a clef, a key) when its start context says nothing new. The
assembler walks the pages in order, carrying the musical context along:

- measure indices, numbers, beats and seconds run on continuously from page to page;
- note, rest and chord ids get a page prefix ("p3-n17") unless they already have it;
- a measure that lacks a clef (or key, or time) for a staff inherits the one in force;
- a tie left pending at the end of a page is closed by the matching note on the next page;
- the tempo map is built from the engraved tempos of the page contexts (120 assumed without);
- the voices used are listed, the fragments kept, and the result validated.

`score_from_document` is the one score path of the service: the CLI and the gateway both turn
the OMR server's header, the options asked for and the fragments into a Score through it, so
the provenance of a score does not depend on who assembled it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from etude.ir.v1 import events_pb2, notation_pb2, score_pb2
from etude.omr.v1 import omr_service_pb2 as omr_pb2

from ir.build import fraction, page_prefix, rational
from ir.timing import DEFAULT_QUARTER_BPM, TempoChange, fill_seconds, tempo_map_from_changes
from ir.validate import ensure_valid

IR_VERSION = "1.0"
PRODUCER = "etude-omr"


@dataclass
class _Context:
    """The musical context in force while walking the pages."""

    clefs: dict[str, notation_pb2.Clef] = field(default_factory=dict)
    key: notation_pb2.KeySignature | None = None
    time: notation_pb2.TimeSignature | None = None
    quarter_bpm: float | None = None


def assemble_score(
    fragments: Sequence[score_pb2.PageFragment],
    *,
    source: score_pb2.Source,
    provenance: score_pb2.Provenance,
    metadata: score_pb2.Metadata | None = None,
) -> score_pb2.Score:
    """One Score from page fragments (any order; pages must be distinct). Raises ValueError when
    there is no fragment or two share a page, and ir.validate.InvalidScoreError when the result is
    not valid IR (the error names the offending elements)."""
    if not fragments:
        raise ValueError("no page fragments to assemble")
    ordered = sorted(fragments, key=lambda f: f.page_index)
    pages = [f.page_index for f in ordered]
    if len(set(pages)) != len(pages):
        raise ValueError(f"two fragments share a page index: {pages}")

    score = score_pb2.Score(ir_version=IR_VERSION, source=source, provenance=provenance)
    if metadata is not None:
        score.metadata.CopyFrom(metadata)
    score.parts.extend(_merge_parts(ordered))
    staff_ids = [staff.id for part in score.parts for staff in part.staves]

    context = _Context()
    tempo_changes: list[TempoChange] = []
    pending: list[notation_pb2.PendingTie] = []
    offset_beats = Fraction(0)
    for page in ordered:
        prefix = page_prefix(page.page_index)
        first_note = len(score.notes)
        tempo = _page_tempo(page.start_context, context, at=offset_beats, first=not tempo_changes)
        if tempo is not None:
            tempo_changes.append(tempo)
        _enter_context(page.start_context, context)

        measure_offset = len(score.measures)
        new_index: dict[int, int] = {}
        for measure in sorted(page.measures, key=lambda m: m.index):
            new_index[measure.index] = len(score.measures)
            _add_measure(score, measure, page, context, staff_ids, offset_beats)
        for note in page.notes:
            added = score.notes.add()
            added.CopyFrom(note)
            added.id = _unique(note.id, prefix)
            added.chord_group_id = _unique(note.chord_group_id, prefix) if note.chord_group_id else ""
            _shift(added, new_index, measure_offset, offset_beats)
        for rest in page.rests:
            added_rest = score.rests.add()
            added_rest.CopyFrom(rest)
            added_rest.id = _unique(rest.id, prefix)
            _shift(added_rest, new_index, measure_offset, offset_beats)
        for group in page.chord_groups:
            score.chord_groups.add(
                id=_unique(group.id, prefix), note_ids=[_unique(n, prefix) for n in group.note_ids]
            )

        _close_ties(pending, score, first_note, page)
        pending = []
        for tie in page.end_context.pending_ties:
            pending.append(notation_pb2.PendingTie())
            pending[-1].CopyFrom(tie)
            pending[-1].from_note_id = _unique(tie.from_note_id, prefix)
        if page.measures:
            last = max(page.measures, key=lambda m: m.index)
            offset_beats += fraction(last.start_beats) + fraction(last.duration_beats)
        score.warnings.extend(page.warnings)
        score.fragments.append(page)
    for tie in pending:
        score.warnings.add(
            message=f"tie from note {tie.from_note_id} is still open at the end of the score",
            page_index=ordered[-1].page_index,
        )

    _number_measures(score)
    tempo_map = tempo_map_from_changes(tempo_changes)
    if tempo_map and not tempo_map[0].text and score.metadata.tempo_text:
        tempo_map[0].text = score.metadata.tempo_text  # printed above the first system
    score.tempo_map.extend(tempo_map)
    fill_seconds(score, tempo_map)
    order = {staff_id: i for i, staff_id in enumerate(staff_ids)}
    voices = {(n.staff_id, n.voice) for n in score.notes} | {(r.staff_id, r.voice) for r in score.rests}
    for staff_id, number in sorted(voices, key=lambda v: (order.get(v[0], len(order)), v[0], v[1])):
        score.voices.add(staff_id=staff_id, number=number)
    ensure_valid(score)
    return score


def score_from_document(
    fragments: Sequence[score_pb2.PageFragment],
    header: omr_pb2.DocumentHeader,
    options: omr_pb2.RecognitionOptions,
    *,
    file_name: str,
    metadata: score_pb2.Metadata | None = None,
) -> score_pb2.Score:
    """The validated Score of a recognised document: its fragments, what the OMR server said of it
    (`header`: sha256, page count, dpi used, model, service version) and the options asked for
    (kept as given, 0 meaning the server's default). Raises as `assemble_score` does."""
    provenance = score_pb2.Provenance(
        producer=PRODUCER,
        service_version=header.service_version,
        model=header.model,
        dpi=header.dpi,
        options={
            "dpi": str(options.dpi),
            "first_page": str(options.first_page),
            "page_limit": str(options.page_limit),
        },
    )
    provenance.created_time.GetCurrentTime()
    source = score_pb2.Source(pdf_sha256=header.pdf_sha256, file_name=file_name, page_count=header.page_count)
    if metadata is None and header.HasField("metadata"):
        metadata = header.metadata  # what the PDF says of itself (title, composer, tempo text)
    return assemble_score(fragments, source=source, provenance=provenance, metadata=metadata)


def _unique(element_id: str, prefix: str) -> str:
    """Page-prefixed id; ids that already carry the page prefix, and empty ids, are kept."""
    if not element_id or element_id.startswith(prefix):
        return element_id
    return prefix + element_id


def _merge_parts(fragments: Sequence[score_pb2.PageFragment]) -> list[score_pb2.Part]:
    """Union of the pages' parts and staves, in order of first appearance."""
    parts: dict[str, score_pb2.Part] = {}
    for fragment in fragments:
        for part in fragment.parts:
            merged = parts.setdefault(part.id, score_pb2.Part(id=part.id))
            merged.name = merged.name or part.name
            staves = {staff.id: staff for staff in merged.staves}
            for staff in part.staves:
                known = staves.get(staff.id)
                if known is None:
                    merged.staves.add().CopyFrom(staff)
                    staves[staff.id] = merged.staves[-1]
                elif known.hand == events_pb2.HAND_UNSPECIFIED:
                    known.hand = staff.hand
    return list(parts.values())


def _page_tempo(
    start: notation_pb2.MusicalContext, context: _Context, *, at: Fraction, first: bool
) -> TempoChange | None:
    """The tempo change a page brings: an engraved tempo that differs from the one in force,
    or, for the first page, whatever tempo it states (assumed or not)."""
    if first:
        bpm = start.quarter_bpm if start.quarter_bpm > 0 else DEFAULT_QUARTER_BPM
        assumed = start.tempo_assumed or start.quarter_bpm <= 0
        context.quarter_bpm = bpm
        return TempoChange(Fraction(0), bpm, assumed=assumed)
    if start.quarter_bpm > 0 and not start.tempo_assumed and start.quarter_bpm != context.quarter_bpm:
        context.quarter_bpm = start.quarter_bpm
        return TempoChange(at, start.quarter_bpm)
    return None


def _enter_context(start: notation_pb2.MusicalContext, context: _Context) -> None:
    for staff_clef in start.clefs:
        context.clefs[staff_clef.staff_id] = staff_clef.clef
    if start.HasField("key"):
        context.key = start.key
    if start.HasField("time"):
        context.time = start.time


def _add_measure(
    score: score_pb2.Score,
    measure: events_pb2.Measure,
    page: score_pb2.PageFragment,
    context: _Context,
    staff_ids: Sequence[str],
    offset_beats: Fraction,
) -> None:
    added = score.measures.add()
    added.CopyFrom(measure)
    added.index = len(score.measures) - 1
    added.page_index = page.page_index
    added.start_beats.CopyFrom(rational(fraction(measure.start_beats) + offset_beats))
    if measure.HasField("key"):
        context.key = measure.key
    elif context.key is not None:
        added.key.CopyFrom(context.key)
    if measure.HasField("time"):
        context.time = measure.time
    elif context.time is not None:
        added.time.CopyFrom(context.time)
    given = {c.staff_id for c in measure.clefs}
    for measure_clef in measure.clefs:
        context.clefs[measure_clef.staff_id] = measure_clef.clef
    for staff_id in staff_ids:
        if staff_id not in given and staff_id in context.clefs:
            added.clefs.add(staff_id=staff_id, clef=context.clefs[staff_id])


def _shift(
    event: events_pb2.NoteEvent | events_pb2.RestEvent,
    new_index: dict[int, int],
    measure_offset: int,
    beats: Fraction,
) -> None:
    # A measure index the page does not have stays wrong on purpose: validation will name it.
    event.measure_index = new_index.get(event.measure_index, event.measure_index + measure_offset)
    event.onset_beats.CopyFrom(rational(fraction(event.onset_beats) + beats))


def _close_ties(
    pending: Sequence[notation_pb2.PendingTie],
    score: score_pb2.Score,
    first_note: int,
    page: score_pb2.PageFragment,
) -> None:
    """Mark the note that ends each pending tie: on this page, in its first measure, same staff
    and pitch, the same voice preferred, earliest first."""
    if not pending:
        return
    first_measure = score.measures[len(score.measures) - len(page.measures)] if page.measures else None
    candidates = [
        note
        for note in score.notes[first_note:]
        if first_measure is not None and note.measure_index == first_measure.index and not note.grace
    ]
    for tie in pending:
        matches = [n for n in candidates if n.staff_id == tie.staff_id and n.pitch.midi == tie.midi]
        if not matches:
            score.warnings.add(
                message=f"tie from note {tie.from_note_id} finds no note of MIDI {tie.midi} on staff "
                f"{tie.staff_id} at the start of page {page.page_index + 1}",
                page_index=page.page_index,
            )
            continue
        best = min(matches, key=lambda n: (n.voice != tie.voice, fraction(n.onset_beats)))
        best.tie_stop = True
        candidates.remove(best)


def _number_measures(score: score_pb2.Score) -> None:
    """Printed-style numbers, continuous over pages: a pickup is "0", the first full measure "1"."""
    start = 0 if score.measures and score.measures[0].incomplete else 1
    for i, measure in enumerate(score.measures):
        measure.number = str(start + i)
