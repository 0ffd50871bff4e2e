"""Series walks and bisection: which patch of a series moved a metric."""
