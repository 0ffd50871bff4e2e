"""The gate without QEMU: its cells, the runner against a fake L1 (results,
a crash, resume), the comparison with expunges, and every format."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from orchestrator.config.gate import DEFAULT_TESTS, expunge_reason, load_expunge
from orchestrator.config.schema import Experiment
from orchestrator.errors import ConfigError, EXIT_GATE
from orchestrator.gate import render, runner
from orchestrator.gate.compare import compare, run_reports
from orchestrator.gate.plan import make_cells, status_of
from orchestrator.machine.guest import CommandResult, MachineError
from orchestrator.results import gate as records
from orchestrator.results.store import Run


def _exp(gate=None, kernels=("a", "b"), tdp=("on", "off")) -> Experiment:
    doc = {"name": "x", "kernels": {k: {"recipe": k} for k in kernels},
           "matrix": {"workload": ("w",), "tdp": tdp}}
    if gate is not None:
        doc["gate"] = gate
    return Experiment.model_validate(doc)


def test_cells_default_set_and_filters():
    cells = make_cells(_exp())
    assert len(cells) == 2 * 2 * len(DEFAULT_TESTS)
    assert cells[0].kernel == "a" and cells[1].kernel == "b"  # kernels innermost
    own = make_cells(_exp({"timeout_s": 30, "tests": {"smm_test": {}, "x": {"args": ("-b", "1M"), "timeout_s": 5}}}),
                     {"tdp": {"off"}})
    assert [(c.test, c.timeout_s, c.args) for c in own if c.kernel == "a"] == [("smm_test", 30, ()), ("x", 5, ("-b", "1M"))]
    assert own[0].id == "tdp-off.smm_test.a"


def test_the_matrix_knobs_that_reach_l1_multiply_the_gate():
    exp = Experiment.model_validate({
        "name": "x", "kernels": {"a": {"recipe": "a"}},
        "matrix": {"workload": ("w",), "tdp": ("off",),
                   "knobs": {"kvm.tdp_mmu": ("Y", "N"), "thp.enabled": ("never",), "l2.prealloc": (True, False)}},
        "gate": {"tests": {"t": {}}}})
    cells = make_cells(exp)
    assert [c.knobs for c in cells] == [(("kvm.tdp_mmu", "Y"), ("thp.enabled", "never")),
                                        (("kvm.tdp_mmu", "N"), ("thp.enabled", "never"))]
    assert cells[1].id == "tdp-off.kvm.tdp_mmu-N.thp.enabled-never.t.a"
    assert cells[1].mode == "off kvm.tdp_mmu=N thp.enabled=never"
    assert len({c.group for c in cells}) == 2


def test_status_of_exit_codes():
    assert [status_of(c, False) for c in (0, 1, 4, 254)] == ["pass", "fail", "skip", "fail"]
    assert status_of(124, True) == "timeout"


class FakeL1:
    """Answers each test from `script`: an exit code, or an exception."""

    def __init__(self, script: dict[str, object], log: list):
        self.script, self.log = script, log
        self.put_hashes: dict[str, str] = {}

    def run(self, argv, timeout=300, check=False):
        self.log.append(list(argv))
        if argv[0] == "sha256sum":  # the copy is checked as experiment/uploads.py checks every copy
            return CommandResult(tuple(argv), 0, f"{self.put_hashes[argv[1]]}  {argv[1]}\n", "", 0.0)
        if argv[0] != "timeout":
            return CommandResult(tuple(argv), 0, "", "", 0.0)
        test = Path(argv[4]).name
        outcome = self.script[test]
        if isinstance(outcome, Exception):
            raise outcome
        return CommandResult(tuple(argv), int(outcome), f"{test} says {outcome}\n", "", 0.5)

    def put(self, local, remote, mode=0o600):
        self.log.append(["put", Path(local).name, remote])
        self.put_hashes[remote] = hashlib.sha256(Path(local).read_bytes()).hexdigest()


def _inputs(tmp_path: Path, built=("t1", "t2", "t3")):
    for t in built:
        (tmp_path / t).write_bytes(f"#!{t}".encode())
    st = SimpleNamespace(built={t: f"x86_64/{t}" for t in built}, failed={"nb": "nb.c:1: error: no"},
                         key="k", program=lambda t: tmp_path / t)
    accel = SimpleNamespace(accel="tcg")
    profile = SimpleNamespace(accel="tcg", virt="svm")
    return runner.GateInputs(l1=None, l2=None, knobs=(), kernels={"a": tmp_path / "bz", "b": tmp_path / "bz"},
                             selftests={"a": st, "b": st}, rootfs=tmp_path / "root", accel=accel,
                             profile=profile, keys=None)


@pytest.fixture
def fake_l1(monkeypatch):
    state = {"script": {}, "log": [], "boots": 0}

    @contextlib.contextmanager
    def boot(spec, folder, notes, with_l2=True):
        assert not with_l2 and ("tdp", "on") in spec.knobs
        state["boots"] += 1
        folder.mkdir(parents=True, exist_ok=True)
        notes["knobs_in_force"] = {"tdp": "/sys/module/kvm_amd/parameters/npt=Y"}
        yield FakeL1(state["script"], state["log"]), None

    monkeypatch.setattr(runner, "boot_pair", boot)
    monkeypatch.setattr(runner, "pair_spec", lambda art, l1, l2, settings, accel, profile, keys:
                        SimpleNamespace(knobs=settings))
    return state


def test_runner_records_every_result_and_reboots_after_a_crash(tmp_path, fake_l1):
    run = Run(tmp_path / "run")
    run.folder.mkdir()
    crash = MachineError("L1", "panic", "Kernel panic - not syncing", console_tail="oops")
    fake_l1["script"].update({"t1": 0, "t2": crash, "t3": 4})
    exp = _exp({"tests": {"t1": {}, "t2": {}, "t3": {}, "nb": {}, "gone": {}}}, kernels=("a",), tdp=("on",))
    runner.run_gate(_inputs(tmp_path), run, make_cells(exp))
    got = {r["gate"]["test"]: r for r in records.records(run)}
    assert {t: r["status"] for t, r in got.items()} == {
        "t1": "pass", "t2": "crash", "t3": "skip", "nb": "not-built", "gone": "not-built"}
    assert fake_l1["boots"] == 2  # t3 ran in a fresh L1
    assert "Kernel panic" in got["t2"]["output"] and got["t2"]["machine_failure"]["class"] == "panic"
    assert "nb.c:1: error" in got["nb"]["output"] and "no such test" in got["gone"]["output"]
    assert got["t1"]["profile"] == "tcg-svm" and got["t1"]["exit_code"] == 0
    assert got["t1"]["knobs_in_force"]["tdp"].endswith("npt=Y")
    assert (run.folder / got["t1"]["log"]).read_text() == "t1 says 0\n"
    # resume: nothing left, nothing runs
    before = len(fake_l1["log"])
    runner.run_gate(_inputs(tmp_path), run, make_cells(exp))
    assert len(fake_l1["log"]) == before and fake_l1["boots"] == 2
    # resume with one result gone: a third boot, beside the logs of the first two
    (run.folder / "gate" / "tdp-on.t1.a.json").unlink()
    runner.run_gate(_inputs(tmp_path), run, make_cells(exp))
    assert fake_l1["boots"] == 3 and {r["gate"]["test"] for r in records.records(run)} >= {"t1", "t3"}
    assert sorted(p.name for p in (run.folder / "logs" / "gate").glob("l1-*")) == [
        "l1-a-tdp-on-1", "l1-a-tdp-on-2", "l1-a-tdp-on-3"]


def test_a_timeout_in_the_guest_is_a_timeout(tmp_path, fake_l1):
    run = Run(tmp_path / "run")
    run.folder.mkdir()
    fake_l1["script"].update({"t1": 124})
    runner.run_gate(_inputs(tmp_path), run, make_cells(_exp({"tests": {"t1": {}}}, kernels=("a",), tdp=("on",))))
    (r,) = records.records(run)
    assert r["status"] == "timeout"


def _rec(kernel, test, status, tdp="on", output=""):
    return {"gate": {"id": f"tdp-{tdp}.{test}.{kernel}", "kernel": kernel, "tdp": tdp, "test": test},
            "status": status, "exit_code": 0 if status == "pass" else 1, "seconds": 1.5, "output": output,
            "profile": "tcg-svm"}


def _expunges(tmp_path: Path):
    path = tmp_path / "tcg-svm.yaml"
    path.write_text("expunged:\n  - test: known\n    reason: TCG lacks it\n")
    return lambda profile: (load_expunge(path), str(path))


def test_only_new_failures_count(tmp_path):
    recs = [_rec("a", "ok", "pass"), _rec("b", "ok", "pass"),
            _rec("a", "new", "pass"), _rec("b", "new", "fail", output="line 1\nASSERT failed here\n"),
            _rec("a", "fixed", "timeout"), _rec("b", "fixed", "pass"),
            _rec("a", "both", "fail"), _rec("b", "both", "crash"),
            _rec("a", "known", "fail"), _rec("b", "known", "fail")]
    rep = compare(recs, "a", "b", _expunges(tmp_path))
    assert [r.test for r in rep.new_failures] == ["new"]
    assert [r.test for r in rep.fixed] == ["fixed"] and [r.test for r in rep.both] == ["both"]
    assert [(r.test, r.expunged) for r in rep.expunged] == [("known", "TCG lacks it")]
    assert rep.counts["b"] == {"pass": 2, "fail": 2, "crash": 1} and rep.seconds["a"] == 7.5
    md = render.to_markdown(rep)
    assert "ASSERT failed here" in md and "TCG lacks it" in md and "new failures (fail on b, not on a): 1" in md
    data = render.as_dict(rep)
    assert data["new_failures"][0]["test"] == "new" and data["expunged"][0]["expunged"] == "TCG lacks it"
    junit = render.to_junit(rep)
    assert 'failures="1"' in junit and "ASSERT failed here" in junit and "<skipped" in junit
    # a result on B only is not compared: no new failure without A's result
    lone = compare([_rec("b", "t", "fail")], "a", "b", _expunges(tmp_path))
    assert not lone.new_failures and [r.test for r in lone.unpaired] == ["t"]
    # one kernel alone: each of its failures that is not expunged is new
    (alone,) = run_reports(recs, ["b"], _expunges(tmp_path))
    assert sorted(r.test for r in alone.new_failures) == ["both", "new"]


def test_expunge_file_is_validated_with_file_and_line(tmp_path):
    bad = tmp_path / "e.yaml"
    bad.write_text("expunged:\n  - test: x\n    reson: typo\n")
    with pytest.raises(ConfigError, match=r"e.yaml:2: expunged\[0\].reason: required key is missing"):
        load_expunge(bad)
    bad.write_text("expunged:\n  - test: x\n    reason: r\n    tdp: of\n")
    with pytest.raises(ConfigError, match=r"e.yaml:4: expunged\[0\].tdp: "):
        load_expunge(bad)
    twice = tmp_path / "t.yaml"
    twice.write_text("expunged:\n  - {test: x, reason: r}\n  - {test: x, reason: s}\n")
    with pytest.raises(ConfigError, match="listed twice"):
        load_expunge(twice)


def test_committed_expunge_files_load(repo):
    files = sorted((repo / "configs" / "expunge").glob("*.yaml"))
    assert files
    for path in files:
        loaded = load_expunge(path)
        assert all(e.reason.strip() for e in loaded.expunged)
    tcg = load_expunge(repo / "configs" / "expunge" / "tcg-svm.yaml")
    assert expunge_reason(tcg, "nested_exceptions_test", "on")


def test_diff_fail_on_gate_has_its_own_exit_code(tmp_path, capsys):
    from orchestrator.cli.main import main
    from orchestrator.results.store import Store

    run = Store(tmp_path).new_run("x")
    run.write_manifest({"config": "c.yaml", "started": "2026-01-01T00:00:00+00:00"})
    for r in (_rec("a", "t", "pass"), _rec("b", "t", "fail", output="boom\n")):
        records.write(run, r["gate"]["id"], r)
    assert main(["diff", "a", "b", "--results", str(tmp_path), "--fail-on", "gate"]) == EXIT_GATE
    assert "boom" in capsys.readouterr().out
    assert main(["diff", "a", "b", "--results", str(tmp_path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["gate"]["new_failures"][0]["test"] == "t"


def test_the_nightly_runs_the_gate_and_summarizes_it(repo):
    import yaml

    wf = yaml.safe_load((repo / ".github" / "workflows" / "nightly.yml").read_text())
    steps = " ".join(str(s.get("run", "")) for s in wf["jobs"]["gate"]["steps"])
    assert "orchestrator gate ci/nightly.yaml" in steps and "GITHUB_STEP_SUMMARY" in steps
    assert "orchestrator gate ci/nightly.yaml" in (repo / "ci" / "nightly-local.sh").read_text()


def test_results_are_compared_within_the_same_knobs(tmp_path):
    recs = []
    for mode, status_b in (("off kvm.tdp_mmu=Y", "pass"), ("off kvm.tdp_mmu=N", "fail")):
        for kernel, status in (("a", "pass"), ("b", status_b)):
            r = _rec(kernel, "t", status, tdp="off")
            r["gate"]["mode"] = mode
            r["gate"]["id"] += "." + mode.split("=")[-1]
            recs.append(r)
    rep = compare(recs, "a", "b", _expunges(tmp_path))
    assert [(r.tdp, r.status_b) for r in rep.rows] == [("off kvm.tdp_mmu=N", "fail"), ("off kvm.tdp_mmu=Y", "pass")]
    assert [r.tdp for r in rep.new_failures] == ["off kvm.tdp_mmu=N"]
