"""A bisect's folder and its log, bisect.json: the condition, the steps,
and each probe's run and verdict, written after every probe, so
`orchestrator bisect --resume FOLDER` goes on where it stopped."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from orchestrator.errors import UserError
from orchestrator.results.store import read_json, write_json_atomic
from orchestrator.series.probe import Condition

FORMAT = 1
LOG = "bisect.json"


@dataclass
class BisectLog:
    folder: Path
    condition: Condition
    steps: list[dict[str, str]]  # step, subject, author
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)  # step -> run, verdict, detail
    direction: str | None = None
    answer: dict[str, Any] | None = None

    @property
    def runs(self) -> Path:
        return self.folder / "runs"

    def save(self) -> None:
        write_json_atomic(self.folder / LOG, {
            "format": FORMAT, "condition": self.condition.as_json(), "steps": self.steps, "probes": self.probes,
            "direction": self.direction, "answer": self.answer})

    def verdicts(self) -> dict[int, str]:
        return {int(k[1:]): p["verdict"] for k, p in self.probes.items() if p.get("verdict")}


def new_folder(results: Path, name: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = results / f"bisect-{stamp}-{name}-{secrets.token_hex(3)}"
    folder.mkdir(parents=True)
    return folder


def load(folder: Path) -> BisectLog:
    path = folder / LOG
    if not path.is_file():
        raise UserError(f"--resume {folder}: no {LOG} there (not a bisect folder)")
    data = read_json(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f"{path}: not a bisect log this version reads (format {data.get('format')!r})")
    c = data["condition"]
    cond = Condition(c["metric"], {k: set(v) for k, v in c["where"].items()}, c["direction"], float(c["threshold_pct"]))
    return BisectLog(folder, cond, data["steps"], data["probes"], data.get("direction"), data.get("answer"))
