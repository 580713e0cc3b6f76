"""Étude command-line tool."""
