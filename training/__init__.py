"""Training side of the staff recognition model (needs torch; never imported by serving code)."""
