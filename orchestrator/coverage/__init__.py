"""Patch coverage: which of a patch's changed lines a cell ran, and how often."""
