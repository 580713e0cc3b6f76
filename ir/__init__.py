"""The Symbolic Score IR v1 in Python: build, time, validate, assemble and export it.

build (rationals, pitches, ids) → timing (tempo map, beats → seconds) → validate →
assemble (page fragments → Score) → musicxml / midi / json_io → export (by format name).
Pure Python over the generated protobuf classes in `etude.ir.v1`; no server code.
"""
