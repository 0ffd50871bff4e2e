"""Compare layer: matched cells, statistics, expectations."""
