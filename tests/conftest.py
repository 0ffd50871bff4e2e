"""Shared fixtures and the tiers: unit (default), qemu, e2e."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

# Started as a background job of a shell without job control, this process
# (and so every child) inherits SIGINT ignored, and the tests that interrupt
# a run or a build with SIGINT would see it shrugged off, as intended
# outside tests. A Python handler here becomes the default in children.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

def pytest_addoption(parser):
    parser.addoption("--nightly", action="store_true",
                     help="also run the nightly tier (marker `nightly`: the longest real runs)")


def pytest_collection_modifyitems(config, items):
    """The nightly tier runs only when asked for: the README's test command
    stays within CI's budget, and keeps a real test of every feature."""
    if config.getoption("--nightly"):
        return
    skip = pytest.mark.skip(reason="nightly tier: run with --nightly")
    for item in items:
        if "nightly" in item.keywords:
            item.add_marker(skip)


REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def test_project() -> Path:
    return DATA / "project"


@pytest.fixture
def repo() -> Path:
    return REPO
