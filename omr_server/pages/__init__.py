"""PDF → page images: validate the document first, then rasterise one page at a time."""
