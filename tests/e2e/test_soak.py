"""Soak: 50 consecutive real cells in one process must leak nothing: no
QEMU or other child process, no file descriptor, no listening port of
ours, no thread, nothing in its temporary folder. Figures are printed (pytest -s shows them) and
kept in the run's folder as soak.json.

SOAK_CELLS=N changes the count (12 by default, 50 with --nightly)."""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import tempfile
import threading
from pathlib import Path

from orchestrator.cli.main import main
from orchestrator.supervisor import descendants

HERE = Path(__file__).resolve().parent
# 50 cells in the nightly tier (--nightly); 12 in the README's test command,
# which keeps the leak checks within CI's time budget
CELLS_NIGHTLY, CELLS_DEFAULT = 50, 12


def _cells(config) -> int:
    default = CELLS_NIGHTLY if config.getoption("--nightly") else CELLS_DEFAULT
    return int(os.environ.get("SOAK_CELLS", default))


def _descendants() -> list[str]:
    """Processes below this one, as 'pid comm'."""
    out = []
    for pid in descendants(os.getpid()):
        try:
            out.append(f"{pid} {Path(f'/proc/{pid}/comm').read_text().strip()}")
        except OSError:
            continue  # ended meanwhile
    return out


def _own_listening() -> set[str]:
    """TCP ports this process listens on (tunnels' local ends): the host's
    table is shared with whatever else runs, so only our sockets count."""
    mine = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            mine.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in mine:  # LISTEN, ours
                ports.add(fields[1])
    return ports


def _fd_targets() -> list[str]:
    out = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            out.append(f"{fd.name} {os.readlink(fd)}")
        except OSError:
            continue
    return out


def _temp_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).iterdir()}


def _state() -> dict:
    gc.collect()  # count what is still held, not what awaits collection
    return {
        "fds": len(os.listdir("/proc/self/fd")),
        "fd_targets": sorted(_fd_targets()),
        "threads": threading.active_count(),
        "children": _descendants(),
        "ports": _own_listening(),
        "temp": _temp_folders(),
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def test_soak_leaks_nothing(tmp_path: Path, monkeypatch, pytestconfig):
    config = HERE / "smoke.yaml"
    cells = _cells(pytestconfig)
    # a temporary folder of our own: QEMU's overlays and our socket folders
    # land here, so nothing another process makes in /tmp is counted
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    # A warm-up cell first: libraries open what they keep for good (logging, crypto) once.
    assert main(["run", str(config), "--results", str(tmp_path / "warmup"), "--only", "tdp=off",
                 "--only", "kernel=baseline"]) == 0
    before = _state()
    reps = max(1, cells // 2)
    rc = main(["run", str(config), "--results", str(tmp_path / "soak"), "--only", "tdp=off", "--repeat", str(reps),
               "--jobs", "1"])
    after = _state()
    (run,) = [p for p in (tmp_path / "soak").iterdir() if p.is_dir()]
    records = [json.loads(p.read_text()) for p in sorted((run / "cells").glob("*.json"))]
    overheads = [r["timings"]["overhead_s"] for r in records if "overhead_s" in r["timings"]]
    figures = {
        "cells": len(records), "ok": sum(r["status"] == "ok" for r in records),
        "fds": [before["fds"], after["fds"]],
        "new_fds": sorted(set(after["fd_targets"]) - set(before["fd_targets"])), "threads": [before["threads"], after["threads"]],
        "children_after": after["children"], "new_listening_ports": sorted(after["ports"] - before["ports"]),
        "new_temp_folders": sorted(after["temp"] - before["temp"]),
        "maxrss_mib": [round(before["maxrss_mib"], 1), round(after["maxrss_mib"], 1)],
        "overhead_s_median_first_5": statistics.median(overheads[:5]),
        "overhead_s_median_last_5": statistics.median(overheads[-5:]),
    }
    (run / "soak.json").write_text(json.dumps(figures, indent=2))
    print("\nsoak:", json.dumps(figures, indent=2))
    assert rc == 0 and figures["ok"] == figures["cells"] == 2 * reps
    assert after["children"] == [], after["children"]
    assert after["fds"] <= before["fds"], figures["fds"]
    assert after["threads"] <= before["threads"], figures["threads"]
    assert figures["new_listening_ports"] == []
    assert figures["new_temp_folders"] == [] and not list(private_tmp.iterdir())
    assert not (run / ".keys").exists(), "per-run SSH keys outlived the run"
