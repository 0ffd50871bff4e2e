"""Unit-tier fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestrator.build.cache import holding


@pytest.fixture(autouse=True)
def _cache_holds_end_with_the_test() -> Iterator[None]:
    """A test's lookups hold their keys (a descriptor each) until it ends,
    as a command's do, rather than until the session ends."""
    with holding():
        yield
