"""Data engine: music (synthetic or real) -> engraved staff images with exact token labels."""
