"""The diff report as one self-contained HTML page: the verdict first,
provenance, forest plots, distributions and sortable tables, with its
style, script and images inline (it works offline)."""
