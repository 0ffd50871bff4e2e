"""Linux 6.12 as L1, through `orchestrator run`: Debian's 6.12 built from
the same fragment as 6.1 (its symbols gone after 6.1 reported and
skipped), booted under QEMU with L2 inside, a workload with every
collector, shadow paging and NPT/EPT. Every cell must be ok with live
counters from each collector."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.cli.main import main
from orchestrator.collectors.perf_stat import EVENTS

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("results")
    rc = main(["run", str(HERE / "kernel-6.12.yaml"), "--results", str(results), "--label", "kernel-6.12"])
    assert rc == 0
    (folder,) = [p for p in results.iterdir() if p.is_dir()]
    return folder


def _records(folder: Path) -> dict[str, dict]:
    return {r["cell"]["tdp"]: r for r in (json.loads(p.read_text()) for p in (folder / "cells").glob("*.json"))}


def test_l1_is_6_12_built_from_the_shared_fragment(run_folder: Path):
    meta = json.loads((run_folder / "manifest.json").read_text())["artifacts"]["kernels"]["upstream-6.12"]["metadata"]
    assert meta["inputs"]["source"]["package"] == "linux-source-6.12"
    undefined = [u.split(":")[0] for u in meta["fragment_symbols_undefined"]]
    assert undefined == ["CONFIG_RANDOM_TRUST_CPU", "CONFIG_RANDOM_TRUST_BOOTLOADER"]
    for r in _records(run_folder).values():
        console = (run_folder / "logs" / r["notes"]["machines"] / "l1-console.log").read_text(errors="replace")
        assert "Linux version 6.12." in console


def test_every_collector_counts_on_6_12(run_folder: Path):
    records = _records(run_folder)
    assert set(records) == {"off", "on"}
    for tdp, r in records.items():
        assert r["status"] == "ok", r["failure"]
        m = r["metrics"]
        assert m["kvm.pf_fixed"] > 0 and m["kvm.exits"] > 0, tdp  # kvm-debugfs
        assert m["kvm_stat.exits"] > 0, tdp  # kvm-stat (the L1 image's kvm_stat, from the 6.1 tree)
        assert m["perf.kvm:kvm_exit"] > 0 and m["perf.kvm:kvm_page_fault"] > 0, tdp  # perf-stat
        assert any(k.startswith("perf.exits.") and v > 0 for k, v in m.items()), tdp  # perf-kvm-stat
        assert m["time.workload_s"] > 0 and m["workload.seconds"] > 0, tdp  # timings, the workload
        # 6.12 has every tracepoint perf-stat asks for
        assert "perf_stat_missing_events" not in r["notes"], r["notes"]
        assert all(f"perf.{e}" in m for e in EVENTS), tdp
    # shadow paging installs sptes through the shadow MMU
    assert records["off"]["metrics"]["perf.kvmmmu:kvm_mmu_set_spte"] > 0
