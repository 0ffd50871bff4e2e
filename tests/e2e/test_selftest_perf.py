"""KVM's perf selftests as workloads, end to end: each kernel's own
demand_paging_test and kvm_page_table_test run in L1 in both tdp modes,
their figures are stored as metrics and `diff` shows them with units."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.cli.main import main

HERE = Path(__file__).resolve().parent
METRICS = {"selftest.demand_paging_test.vcpu_paging_rate": "pages/s/vcpu",
           "selftest.demand_paging_test.guest_execution_s": "s",
           "selftest.kvm_page_table_test.create_mappings_s": "s"}


def test_selftests_measure_in_l1_and_diff_shows_their_units(tmp_path: Path):
    assert main(["run", str(HERE / "selftest-perf.yaml"), "--results", str(tmp_path)]) == 0
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    records = [json.loads(p.read_text()) for p in (folder / "cells").glob("*.json")]
    assert len(records) == 8 and all(r["status"] == "ok" for r in records), [r["failure"] for r in records]
    manifest = json.loads((folder / "manifest.json").read_text())
    keys = manifest["artifacts"]["selftests"]
    assert set(keys) == {"baseline", "patched"} and keys["baseline"] != keys["patched"]
    for r in records:
        test = r["workload"]["kind"]
        assert r["workload"]["level"] == "l1" and r["workload"]["argv"][0].endswith(f"/{test}")
        (copied,) = r["notes"]["workload_files"]  # the kernel's own build, checked in L1 by sha256
        assert keys[r["cell"]["kernel"]] in copied["src"] and copied["dest"].endswith(f"/{test}")
        assert any(m.startswith(f"selftest.{test}.") for m in r["metrics"])
        assert "kvm.exits" in r["metrics"]  # the collectors still ran around it (L2's VM)
    md = tmp_path / "diff.md"
    assert main(["diff", "baseline", "patched", "--results", str(tmp_path), "--format", "md", "--output", str(md)]) == 0
    out = tmp_path / "diff.json"
    assert main(["diff", "baseline", "patched", "--results", str(tmp_path), "--format", "json", "--output", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    for metric, unit in METRICS.items():
        mine = [r for r in rows if r["metric"] == metric]
        assert {r["where"]["tdp"] for r in mine} == {"on", "off"}, metric
        assert all(r["unit"] == unit and r["n"] == [1, 1] and r["verdict"] == "not tested" for r in mine)
        assert md.read_text().count(f"| {metric} ({unit}) | 1/1 |") == 2  # a row per tdp mode
