"""SIGINT and SIGTERM end `orchestrator` within 5 s with exit 130 in the
phases that need no machine: config loading, planning, diff (a large run),
merge. Each phase is also made to stall inside one C call that never looks
at signals (ORCHESTRATOR_STALL, orchestrator/failpoints.py), so the tests
prove that the signal reaches code that never polls for it. The phases with
real builds and machines are in tests/qemu/test_signals.py."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from orchestrator import interrupt, proc
from orchestrator.errors import EXIT_INTERRUPTED

REPO = Path(__file__).resolve().parents[2]
SYNTH = REPO / "tests" / "data" / "results" / "20261125T000000Z-synthetic-000001"
BOUND_S = 5.0


def _start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "orchestrator.cli.main", *args], cwd=cwd,
                            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _stop_at(child: subprocess.Popen, marker: str, sig: int, timeout: float = 60) -> tuple[int, float, str]:
    """Wait for `marker` on the child's stderr, send `sig`, and return its
    exit code, how long it took to end, and its stderr."""
    assert child.stderr is not None
    seen: list[str] = []
    reached = threading.Event()

    def read() -> None:
        for line in child.stderr:  # type: ignore[union-attr]
            seen.append(line)
            if marker in line:
                reached.set()

    threading.Thread(target=read, daemon=True).start()
    if not reached.wait(timeout):
        child.kill()
        pytest.fail(f"never reached {marker!r}: {''.join(seen)[-2000:]}")
    t = time.monotonic()
    child.send_signal(sig)
    try:
        code = child.wait(timeout=30)
    finally:
        child.kill()
    return code, time.monotonic() - t, "".join(seen)


def _shards(tmp_path: Path) -> list[Path]:
    cells = sorted((SYNTH / "cells").glob("*.json"))
    out = []
    for i in (1, 2):
        folder = tmp_path / "shards" / str(i) / f"20261125T00000{i}Z-synthetic-00000{i}"
        (folder / "cells").mkdir(parents=True)
        mine = [c for pos, c in enumerate(cells) if pos % 2 == i - 1]
        for c in mine:
            (folder / "cells" / c.name).write_bytes(c.read_bytes())
        manifest = json.loads((SYNTH / "manifest.json").read_text())
        manifest["plan"] = {"cells": [c.stem for c in mine], "total": len(cells), "shard": [i, 2]}
        (folder / "manifest.json").write_text(json.dumps(manifest))
        out.append(folder)
    return out


def _args(point: str, tmp_path: Path) -> list[str]:
    if point in ("config", "plan"):
        return ["run", str(REPO / "configs" / "nested-ept-off.yaml"), "--dry-run"]
    if point == "diff":
        return ["diff", "baseline", "patched", "--results", str(SYNTH.parent)]
    return ["merge", *map(str, _shards(tmp_path)), "--results", str(tmp_path / "merged")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("point", ["config", "plan", "diff", "merge"])
def test_a_signal_ends_a_phase_stuck_in_c_within_5s(point, sig, tmp_path):
    child = _start(_args(point, tmp_path), {"ORCHESTRATOR_STALL": point}, tmp_path)
    code, took, err = _stop_at(child, f"stalling at {point}", sig)
    assert code == EXIT_INTERRUPTED, err
    assert took < BOUND_S, f"{point}: {took:.1f}s"
    if point == "merge":  # the half-merged run it was writing is gone
        assert not (tmp_path / "merged").exists() or not list((tmp_path / "merged").iterdir())


def _large_run(root: Path, workloads: int = 100, reps: int = 8) -> None:
    """A run of 2 kernels x 2 tdp x `workloads` x `reps` cells (3,200 by
    default), a dozen metrics each: about 7 s of `diff --all-metrics` here."""
    folder = root / "20261125T000000Z-large-000001"
    (folder / "cells").mkdir(parents=True)
    manifest = json.loads((SYNTH / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "experiment": "large", "label": "large"}))
    for w in range(workloads):
        for tdp in ("on", "off"):
            for kernel in ("baseline", "patched"):
                for rep in range(1, reps + 1):
                    cid = f"r{rep:03d}.tdp-{tdp}.w{w}.{kernel}"
                    metrics = {f"kvm.m{m}": 1000.0 + (w * m + rep * 7) % 97 for m in range(12)}
                    rec = {"schema": 1, "status": "ok", "failure": None, "timings": {"cell_s": 1.0}, "notes": {},
                           "cell": {"id": cid, "index": 0, "kernel": kernel, "tdp": tdp, "workload": f"w{w}",
                                    "rep": str(rep)}, "metrics": metrics}
                    (folder / "cells" / f"{cid}.json").write_text(json.dumps(rec))


def test_a_signal_ends_diff_of_a_large_run_within_5s(tmp_path):
    sig = signal.SIGTERM
    _large_run(tmp_path / "results")
    child = _start(["diff", "baseline", "patched", "--all-metrics", "--results", str(tmp_path / "results")], {}, tmp_path)
    # imports take ~1 s of CPU; reading and comparing 3,200 records ~7 s
    while _cpu_s(child.pid) < 2.5 and child.poll() is None:
        time.sleep(0.1)
    assert child.poll() is None, "diff ended before the signal: make the run larger"
    t = time.monotonic()
    child.send_signal(sig)
    code = child.wait(timeout=30)
    assert code == EXIT_INTERRUPTED and time.monotonic() - t < BOUND_S


def _cpu_s(supervisor: int) -> float:
    """CPU seconds of the supervised worker (the supervisor's child)."""
    from orchestrator.supervisor import descendants

    total = 0.0
    for pid in descendants(supervisor):
        with contextlib.suppress(OSError):
            text = Path(f"/proc/{pid}/stat").read_text()
            fields = text[text.rindex(")") + 2:].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def test_last_resort_cleanups_run_and_withdrawn_ones_do_not(tmp_path):
    """What a hard exit removes: registered cleanups, never withdrawn ones
    (run in a child, since the last resort ends its process)."""
    code = (
        "import pathlib, sys\n"
        "from orchestrator import interrupt\n"
        f"a, b = pathlib.Path({str(tmp_path / 'a')!r}), pathlib.Path({str(tmp_path / 'b')!r})\n"
        "a.mkdir(); b.mkdir()\n"
        "interrupt.on_last_resort(a)\n"
        "interrupt.on_last_resort(b)()\n"
        "interrupt.Interrupts()._last_resort('test')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert r.returncode == EXIT_INTERRUPTED and "stopping now" in r.stderr
    assert not (tmp_path / "a").exists() and (tmp_path / "b").exists()


def test_stop_all_ends_every_child_group():
    a, b = proc.start(["sleep", "60"]), proc.start(["sh", "-c", "trap '' TERM; sleep 60"])
    assert proc.stop_all(grace=0.5) == 2
    assert a.wait(timeout=5) is not None and b.wait(timeout=5) is not None
    assert interrupt.HARD_EXIT_S < BOUND_S


def test_a_worker_that_crashes_prints_its_traceback_and_exits_1():
    code = (
        "import sys\n"
        "from orchestrator.supervisor import supervise\n"
        "def work():\n"
        "    raise RuntimeError('a bug')\n"
        "sys.exit(supervise(work))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "RuntimeError: a bug" in r.stderr


def test_a_worker_killed_by_a_signal_it_did_not_choose_is_reported():
    """The OOM killer's SIGKILL: the supervisor says so and exits 128+9."""
    code = (
        "import os, signal, sys\n"
        "from orchestrator.supervisor import supervise\n"
        "sys.exit(supervise(lambda: os.kill(os.getpid(), signal.SIGKILL)))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert r.returncode == 128 + 9 and "killed by signal 9" in r.stderr
