from __future__ import annotations

import pytest

from orchestrator.workloads import REGISTRY, WorkloadOutputError
from orchestrator.workloads.base import parse_result_line

FILE_MMAP_OUT = (
    "some noise\n"
    'RESULT {"workload":"file-mmap","metric":"seconds","value":0.391234,"unit":"s",'
    '"better":"lower","mib":32,"rounds":4,"pages":32768}\n'
)

STRESS_VM_OUT = """\
stress-ng: info:  [231] setting to a 240 second (4 mins, 0.00 secs) run per stressor
stress-ng: info:  [231] dispatching hogs: 1 vm
stress-ng: info:  [231] stressor       bogo ops real time  usr time  sys time   bogo ops/s     bogo ops/s
stress-ng: info:  [231]                           (secs)    (secs)    (secs)   (real time) (usr+sys time)
stress-ng: info:  [231] vm                 2000      3.21      2.90      0.30       623.05         625.00
stress-ng: info:  [231] successful run completed in 3.22s
"""


def test_registry_has_the_issue_workloads():
    for name in ("anon-touch", "fork-read", "exec-storm", "file-mmap", "stress-vm", "stress-mmap", "stress-fork", "command"):
        assert name in REGISTRY


def test_own_workload_argv_and_parse():
    w = REGISTRY["file-mmap"]
    assert w.argv({"mib": 8}) == ["file-mmap", "--mib", "8", "--rounds", "4", "--dir", "/dev/shm"]
    metrics = w.parse(FILE_MMAP_OUT)
    assert metrics["seconds"] == pytest.approx(0.391234)
    assert metrics["pages"] == 32768


@pytest.mark.parametrize("bad", ["", "RESULT {not json}\n", 'RESULT {"value": "x"}\n', "RESULT []\n"])
def test_bad_result_lines(bad):
    with pytest.raises(WorkloadOutputError):
        parse_result_line(bad)


def test_stress_ng_parse():
    w = REGISTRY["stress-vm"]
    assert w.argv({})[:3] == ["stress-ng", "--vm", "1"]
    m = w.parse(STRESS_VM_OUT)
    assert m["bogo_ops_per_s"] == pytest.approx(623.05) and m["bogo_ops"] == 2000
    newer = STRESS_VM_OUT.replace("info:  [231] vm", "metrc: [231] vm")
    assert w.parse(newer)["bogo_ops_per_s"] == pytest.approx(623.05)
    with pytest.raises(WorkloadOutputError):
        REGISTRY["stress-fork"].parse(STRESS_VM_OUT)


def test_command_workload_keeps_user_argv_out_of_the_script():
    w = REGISTRY["command"]
    argv = w.argv({"argv": ("echo", "$(reboot); `id`")})
    assert argv[-2:] == ["echo", "$(reboot); `id`"]
    assert "reboot" not in argv[2]  # the script itself is fixed
    assert w.parse("hello\nORCH-ELAPSED 10.5 12.0\n")["seconds"] == pytest.approx(1.5)


def test_arg_check():
    arg = REGISTRY["anon-touch"].arg("mib")
    assert arg.check(4) is None
    assert arg.check("4")
    assert arg.check(True)
    assert arg.check(0)
