"""Staves: find the five-line staves on a page image, group them into systems, crop them for the model."""
