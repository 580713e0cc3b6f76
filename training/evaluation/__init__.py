"""Measures of the recognition model: symbol error rate per staff, note F1 on whole PDFs."""
