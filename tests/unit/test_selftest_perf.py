"""The KVM perf selftests as workloads: their parsers on real output
(tests/data/selftests), their arguments, units and directions, how a cell
gets the kernel's own program, and how diff shows their metrics."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from orchestrator.compare.metrics import better_of, family, is_time, labelled, unit_of, wanted
from orchestrator.config.schema import Experiment
from orchestrator.experiment.uploads import MissingSelftest, selftest_files
from orchestrator.experiment.workload import level_of
from orchestrator.plan import Cell
from orchestrator.workloads import REGISTRY, WorkloadOutputError
from orchestrator.workloads.selftest_perf import L1_DIR

DATA = Path(__file__).resolve().parent.parent / "data" / "selftests"


def _out(name: str) -> str:
    return (DATA / f"{name}.txt").read_text()


def test_demand_paging_rate_from_the_region_and_the_time_not_6_1s_printed_rate():
    got = REGISTRY["demand_paging_test"].read(_out("6.1-tdp-off.demand_paging_test"), {})
    pages = (0xfcfffff000 - 0xfcfbfff000) / 4096  # 64 MiB of 4K pages
    assert got["pages"] == pages == 16384
    assert got["guest_execution_s"] == pytest.approx(6.331507581)
    assert got["paging_rate"] == pytest.approx(pages / 6.331507581)
    assert got["vcpu_paging_rate"] == got["paging_rate"]  # one vCPU
    # 6.1 prints 1758.87: its nanoseconds divided by 1e8, not 1e9
    assert got["paging_rate"] == pytest.approx(2587.7, abs=0.1)


def test_demand_paging_6_12_agrees_with_what_6_12_prints_and_divides_by_vcpus():
    out = _out("6.12-tdp-on.demand_paging_test")
    got = REGISTRY["demand_paging_test"].read(out, {})
    assert got["vcpu_paging_rate"] == pytest.approx(3742.495735, rel=1e-6)  # "Per-vcpu demand paging rate"
    four = REGISTRY["demand_paging_test"].read(out, {"vcpus": 4})
    assert four["vcpu_paging_rate"] == pytest.approx(got["paging_rate"] / 4)


@pytest.mark.parametrize("version", ["6.1-tdp-off", "6.12-tdp-on"])
def test_dirty_log_sums_the_iterations(version):
    got = REGISTRY["dirty_log_perf_test"].read(_out(f"{version}.dirty_log_perf_test"), {})
    assert set(got) == {"dirty_memory_s", "populate_s", "enable_dirty_logging_s", "get_dirty_log_s",
                        "clear_dirty_log_s", "disable_dirty_logging_s"}
    if version == "6.1-tdp-off":
        assert got["dirty_memory_s"] == pytest.approx(0.015587233 + 5.186753951 + 5.081434909)
        assert got["populate_s"] == pytest.approx(5.764942044)
        assert got["get_dirty_log_s"] == pytest.approx(0.000355950)
        assert got["clear_dirty_log_s"] == pytest.approx(0.008985238)


@pytest.mark.parametrize("version", ["6.1-tdp-off", "6.12-tdp-on"])
def test_page_table_stages(version):
    got = REGISTRY["kvm_page_table_test"].read(_out(f"{version}.kvm_page_table_test"), {})
    assert set(got) == {"create_mappings_s", "update_mappings_s", "adjust_mappings_s"}
    if version == "6.1-tdp-off":
        assert got == pytest.approx({"create_mappings_s": 4.006334607, "update_mappings_s": 3.107099930,
                                     "adjust_mappings_s": 0.022583622})


def test_access_tracking_skips_here_and_its_figures_parse_from_its_format():
    w = REGISTRY["access_tracking_perf_test"]
    skipped = _out("6.1-tdp-off.access_tracking_perf_test")
    assert "SKIP - CONFIG_IDLE_PAGE_TRACKING is not enabled" in skipped
    with pytest.raises(WorkloadOutputError):
        w.read(skipped, {})
    assert "skipped" in w.exited(4) and w.exited(1) == "access_tracking_perf_test exited 1"
    # written from its format string, pr_info("%-30s: %ld.%09lds\n", ...): no real sample, it skips here
    labels = ["Populating memory", "Writing to populated memory", "Reading from populated memory",
              "Mark memory idle", "Writing to idle memory", "Reading from idle memory"]
    text = "\n" + "".join(f"{label:<30s}: 0.{i:09d}s\n" for i, label in enumerate(labels, 1))
    got = w.read(text, {})
    assert got["mark_idle_s"] == pytest.approx(4e-9) and got["read_idle_s"] == pytest.approx(6e-9)


@pytest.mark.parametrize("name,cut", [("demand_paging_test", "Total guest"), ("dirty_log_perf_test", "Iteration"),
                                      ("kvm_page_table_test", "KVM_UPDATE")])
def test_truncated_output_is_an_error_naming_the_missing_line(name, cut):
    out = _out(f"6.1-tdp-off.{name}")
    with pytest.raises(WorkloadOutputError, match="no '"):
        REGISTRY[name].read(out[:out.index(cut)], {})


def test_argv_and_arguments():
    assert REGISTRY["demand_paging_test"].argv({}) == [f"{L1_DIR}/demand_paging_test", "-b", "64M", "-v", "1"]
    assert REGISTRY["demand_paging_test"].argv({"uffd": "MISSING", "mib": 16})[-2:] == ["-u", "MISSING"]
    assert REGISTRY["dirty_log_perf_test"].argv({"iterations": 2, "vcpus": 2}) == [
        f"{L1_DIR}/dirty_log_perf_test", "-b", "64M", "-v", "2", "-i", "2"]
    vcpus = REGISTRY["kvm_page_table_test"].arg("vcpus")
    assert vcpus.check(0) == "must be >= 1" and vcpus.check(513) == "must be <= 512" and vcpus.check(2) is None
    assert "must be one of" in REGISTRY["demand_paging_test"].arg("uffd").check("MINOR")


def test_metrics_have_units_directions_and_are_emulated_time():
    rate = "selftest.demand_paging_test.vcpu_paging_rate"
    assert (unit_of(rate), better_of(rate), labelled(rate)) == ("pages/s/vcpu", "higher", f"{rate} (pages/s/vcpu)")
    assert (unit_of("selftest.dirty_log_perf_test.dirty_memory_s"), better_of("selftest.dirty_log_perf_test.dirty_memory_s")) == ("s", "lower")
    every = [m for w in REGISTRY.values() if w.selftest for m in w.metrics()]
    assert len(every) == 3 + 6 + 3 + 6
    # every figure they print is L1's clock: time, no verdict under TCG without --timing
    assert all(is_time(m) and wanted(m, False) and family(m) == "time" for m in every)
    assert unit_of("kvm.pf_fixed") == "" and not is_time("kvm.pf_fixed")


def _exp(**workloads) -> Experiment:
    return Experiment.model_validate({"name": "x", "kernels": {"a": {"recipe": "a"}, "b": {"recipe": "b"}},
                                      "workloads": workloads, "matrix": {"workload": ("dp", "anon-touch")}})


def test_a_selftest_runs_in_l1_with_the_program_of_the_cells_kernel(tmp_path):
    exp = _exp(dp={"kind": "demand_paging_test"})
    assert level_of(exp, Cell("a", "on", "dp", 1)) == "l1"
    assert level_of(exp, Cell("a", "on", "anon-touch", 1)) == "l2"
    entry = SimpleNamespace(built={"demand_paging_test": "x86_64/demand_paging_test"}, failed={"dirty_log_test": "boom"},
                            program=lambda t: tmp_path / "b" / t)
    (f,) = selftest_files({"b": entry}, "b", REGISTRY["demand_paging_test"])
    assert (f.src, f.dest, f.mode) == (str(tmp_path / "b" / "demand_paging_test"), f"{L1_DIR}/demand_paging_test", "0755")
    assert selftest_files({"b": entry}, "b", REGISTRY["anon-touch"]) == ()
    with pytest.raises(MissingSelftest, match="did not build for kernel 'b': no such test"):
        selftest_files({"b": entry}, "b", REGISTRY["kvm_page_table_test"])
    with pytest.raises(MissingSelftest, match="no selftests were built for kernel 'a'"):
        selftest_files({"b": entry}, "a", REGISTRY["demand_paging_test"])


def test_diff_shows_selftest_metrics_with_their_units(tmp_path):
    from orchestrator.cli.main import main
    run = tmp_path / "r" / "20261202T000000Z-st-000001"
    (run / "cells").mkdir(parents=True)
    manifest = {"schema": 2, "config": "c.yaml", "experiment": "st", "accel": {"accel": "tcg"},
                "artifacts": {"kernels": {"a": {"key": "ka"}, "b": {"key": "kb"}}},
                "plan": {"cells": []}, "resolved_config": {"expectations": []}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    metric = "selftest.demand_paging_test.vcpu_paging_rate"
    for i, (kernel, value) in enumerate([("a", 2500.0), ("b", 3000.0)] * 3):
        rep = i // 2 + 1
        cell = {"id": f"r{rep:03d}.tdp-off.dp.{kernel}", "index": i, "kernel": kernel, "tdp": "off",
                "workload": "dp", "rep": str(rep)}
        rec = {"schema": 2, "cell": cell, "status": "ok", "metrics": {metric: value + rep, "kvm.pf_fixed": 10.0},
               "timings": {}, "workload": {"kind": "demand_paging_test"}, "notes": {}}
        (run / "cells" / f"{cell['id']}.json").write_text(json.dumps(rec))
    out = tmp_path / "d.json"
    assert main(["diff", "a", "b", "--results", str(tmp_path / "r"), "--format", "json", "--output", str(out)]) == 0
    (row,) = [r for r in json.loads(out.read_text())["rows"] if r["metric"] == metric]
    assert row["unit"] == "pages/s/vcpu" and row["better"] == "higher" and row["verdict"] == "not tested"
    md = tmp_path / "d.md"
    assert main(["diff", "a", "b", "--results", str(tmp_path / "r"), "--format", "md", "--output", str(md)]) == 0
    assert f"| {metric} (pages/s/vcpu) | 3/3 |" in md.read_text()
    assert main(["diff", "a", "b", "--results", str(tmp_path / "r"), "--format", "json", "--output", str(out), "--timing"]) == 0
    (row,) = [r for r in json.loads(out.read_text())["rows"] if r["metric"] == metric]
    assert row["verdict"] == "improvement"  # +20%, higher is better: a verdict when asked


class _L1:
    """L1 that takes the copy (checked by sha256) and runs the selftest: real output."""
    level = "L1"

    def __init__(self, output: str, code: int = 0):
        self.output, self.code, self.hashes, self.ran = output, code, {}, []

    def check(self): ...

    def probe_qmp(self, timeout):
        return "running"

    def put(self, local, remote, mode=0o600):
        import hashlib
        self.hashes[remote] = hashlib.sha256(Path(local).read_bytes()).hexdigest()

    def run(self, argv, timeout=300, check=False):
        from orchestrator.machine.guest import CommandResult
        self.ran.append(list(argv))
        if argv[0] == "sha256sum":
            return CommandResult(tuple(argv), 0, f"{self.hashes[argv[1]]}  {argv[1]}\n", "", 0.0)
        if argv[0].startswith(L1_DIR):
            return CommandResult(tuple(argv), self.code, self.output, "", 2.0)
        return CommandResult(tuple(argv), 0, "", "", 0.0)


def _cell_run(tmp_path, monkeypatch, l1, built=("demand_paging_test",)):
    import contextlib

    from orchestrator.experiment import cell as cellmod
    from orchestrator.plan import make_plan

    class L2:
        level, pid = "L2", 5

        def check(self): ...

        def probe_qmp(self, timeout):
            return "running"

    booted = []

    @contextlib.contextmanager
    def machines(*_args):
        booted.append(1)
        yield l1, L2(), None

    (tmp_path / "bin").mkdir()
    for t in built:
        (tmp_path / "bin" / t).write_bytes(b"\x7fELF" + t.encode())
    entry = SimpleNamespace(built={t: f"x86_64/{t}" for t in built}, failed={}, program=lambda t: tmp_path / "bin" / t)
    exp = _exp(dp={"kind": "demand_paging_test", "args": {"mib": 64}})
    cell = make_plan(exp).cells[0]
    assert (cell.workload, cell.kernel) == ("dp", "a")
    monkeypatch.setattr(cellmod, "collectors_of", lambda exp: [])
    monkeypatch.setattr(cellmod, "diagnose", lambda l1, l2: (None, ["both levels answer"]))  # the probes, faked
    inp = cellmod.CellInputs(exp, {}, tmp_path, tmp_path, None, None, selftests={"a": entry})
    return cellmod.run_cell(inp, cell, tmp_path, machines=machines), booted


def test_a_selftest_cell_runs_the_kernels_program_in_l1(tmp_path, monkeypatch):
    l1 = _L1(_out("6.1-tdp-off.demand_paging_test"))
    record, _ = _cell_run(tmp_path, monkeypatch, l1)
    assert record["status"] == "ok", record["failure"]
    assert record["workload"]["level"] == "l1"
    assert [f"{L1_DIR}/demand_paging_test", "-b", "64M", "-v", "1"] in l1.ran
    assert record["metrics"]["selftest.demand_paging_test.guest_execution_s"] == pytest.approx(6.331507581)
    assert not any(m.startswith("workload.") for m in record["metrics"])
    (copied,) = record["notes"]["workload_files"]
    assert copied["dest"] == f"{L1_DIR}/demand_paging_test" and copied["src"].endswith("bin/demand_paging_test")


def test_a_skipped_selftest_fails_its_cell_saying_so(tmp_path, monkeypatch):
    l1 = _L1(_out("6.1-tdp-off.access_tracking_perf_test"), code=4)
    record, _ = _cell_run(tmp_path, monkeypatch, l1)
    f = record["failure"]
    assert record["status"] == "failed" and f["class"] == "workload" and f["level"] == "L1"
    assert "skipped" in f["message"] and "CONFIG_IDLE_PAGE_TRACKING" in f["evidence"]


def test_a_selftest_that_did_not_build_fails_before_any_boot(tmp_path, monkeypatch):
    record, booted = _cell_run(tmp_path, monkeypatch, _L1(""), built=())
    assert record["status"] == "failed" and record["failure"]["class"] == "not-built" and not booted
    assert "demand_paging_test did not build for kernel 'a'" in record["failure"]["message"]


def test_text_format_gives_a_long_name_with_its_unit_a_line_of_its_own():
    from orchestrator.compare.diff import Row
    from orchestrator.compare.stats import compare
    from orchestrator.report.text import WIDTH, _row

    metric = "selftest.dirty_log_perf_test.disable_dirty_logging_s"
    lines = _row(Row((("tdp", "off"),), compare(metric, [1.0, 1.1, 1.2], [1.0, 1.1, 1.2], "lower", 5.0)))
    assert lines[0].strip() == f"{metric} (s)" and len(lines) == 2 and lines[1].split()[:2] == ["1.1", "1.1"]
    assert all(len(line) <= WIDTH for line in lines)
    short = _row(Row((), compare("kvm.exits", [1.0, 2.0], [1.0, 2.0], "lower", 5.0)))
    assert len(short) == 1 and short[0].split()[0] == "kvm.exits"
