"""A rich status line for long phases (builds), quiet when not a terminal."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from rich.console import Console

from orchestrator.build.kernel import Progress


@contextlib.contextmanager
def status(title: str, console: Console | None = None) -> Iterator[Progress]:
    console = console or Console(stderr=True, highlight=False)
    start = time.monotonic()
    last_phase = [""]
    with console.status(title) as st:

        def update(phase: str, detail: str) -> None:
            elapsed = time.monotonic() - start
            st.update(f"{title} [bold]{phase}[/] {elapsed:5.0f}s  {detail[:100]}")
            if phase != last_phase[0]:
                last_phase[0] = phase
                if not console.is_terminal:
                    console.print(f"{title}: {phase} ({elapsed:.0f}s) {detail[:100]}", markup=False)

        yield update
