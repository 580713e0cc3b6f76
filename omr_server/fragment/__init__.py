"""Staff symbols of a page → an IR PageFragment (measures, notes, chords, voices, hands, context)."""
