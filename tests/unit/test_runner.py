from __future__ import annotations

from orchestrator.experiment.runner import retryable


def _rec(cls: str, level: str = "L2", workload_ran: bool = False) -> dict:
    timings = {"cell_s": 1.0, **({"workload_s": 1.0} if workload_ran else {})}
    return {"status": "failed", "failure": {"class": cls, "level": level}, "timings": timings}


def test_only_a_stalled_l2_boot_is_retried():
    assert retryable(_rec("silence"))
    assert retryable(_rec("timeout"))
    assert not retryable(_rec("panic"))
    assert not retryable(_rec("workload"))
    assert not retryable(_rec("silence", level="L1"))
    assert not retryable(_rec("silence", workload_ran=True))
    assert not retryable({"status": "ok", "failure": None, "timings": {}})
