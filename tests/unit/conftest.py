"""Unit-tier fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.build.cache import holding
from orchestrator.build.kernel import KernelBuilder
from orchestrator.paths import Project
from tests.fakes.fake_kernel import make_project


@pytest.fixture(autouse=True)
def _cache_holds_end_with_the_test() -> Iterator[None]:
    """A test's lookups hold their keys (a descriptor each) until it ends,
    as a command's do, rather than until the session ends."""
    with holding():
        yield


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A project whose kernel recipes build the fake kernel tree (a test
    module may define its own `project`)."""
    return make_project(tmp_path)


@pytest.fixture
def builder(project: Project, tmp_path: Path) -> KernelBuilder:
    return KernelBuilder(project, cache=tmp_path / "cache", jobs=1, use_ccache=False)
