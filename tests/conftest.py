"""Shared fixtures and the tiers: unit (default), qemu, e2e."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def test_project() -> Path:
    return DATA / "project"


@pytest.fixture
def repo() -> Path:
    return REPO
