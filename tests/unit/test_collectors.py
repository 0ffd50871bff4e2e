"""Collector parsers on golden outputs (the live collection: e2e tier)."""

from __future__ import annotations

import pytest

from orchestrator.collectors import kvm_debugfs, kvm_stat, perf_kvm_stat, perf_stat

PERF_KVM_REPORT = """\

Analyze events for all VMs, all VCPUs:

             VM-EXIT    Samples  Samples%     Time%    Min Time    Max Time         Avg time

                 npf      20811    61.02%    55.37%      2.21us   9128.05us     25.81us ( +-   2.53% )
                 hlt       6321    18.53%    40.02%      1.10us  50017.71us     61.47us ( +-  11.11% )
                  io       4140    12.14%     3.71%      3.57us    412.85us      8.69us ( +-   1.53% )
             PF excp      37077    95.09%    80.13%     13.64us  88923.89us     63.65us ( +-   5.99% )

Total Samples:34103, Total events handled time:970949.57us.
"""

PERF_STAT_CSV = """\
# started on Wed Nov 25 09:00:00 2026

1234,,kvm:kvm_exit,5000000,100.00,,
55,,kvm:kvm_page_fault,5000000,100.00,,
<not counted>,,kvm:kvm_nested_vmrun,0,100.00,,
"""

KVM_STAT_CSV = """\
timestamp,exits,pf_fixed,halt_exits
1700000000,100,40,3
1700000001,250,60,1
"""


def test_perf_kvm_report():
    exits = perf_kvm_stat.parse(PERF_KVM_REPORT)
    # AMD names shadow paging's page faults "PF excp": two words, one metric
    assert exits == {"npf": 20811.0, "hlt": 6321.0, "io": 4140.0, "PF_excp": 37077.0}


def test_perf_stat_csv():
    counts = perf_stat.parse(PERF_STAT_CSV)
    assert counts == {"kvm:kvm_exit": 1234.0, "kvm:kvm_page_fault": 55.0}


def test_kvm_stat_sums_intervals():
    assert kvm_stat.parse(KVM_STAT_CSV) == {"exits": 350.0, "pf_fixed": 100.0, "halt_exits": 4.0}
    with pytest.raises(RuntimeError):
        kvm_stat.parse("no csv here\n")


def test_debugfs_delta_tolerates_names_on_one_side():
    before = {"pf_fixed": 10, "exits": 100, "old_name": 5}
    after = {"pf_fixed": 25, "exits": 180, "new_name": 7}
    diff, only = kvm_debugfs.delta(before, after)
    assert diff == {"exits": 80, "pf_fixed": 15}
    assert only == ["new_name", "old_name"]


def test_perf_stat_counts_only_the_events_l1_has_and_notes_the_rest(monkeypatch, tmp_path):
    from orchestrator.collectors.base import Context

    started = {}
    monkeypatch.setattr(perf_stat, "available_events",
                        lambda ctx, events: ([e for e in events if e != "kvmmmu:kvm_mmu_get_page"],
                                             ["kvmmmu:kvm_mmu_get_page"]))
    monkeypatch.setattr(perf_stat, "start_perf", lambda ctx, fifos, argv, out: started.setdefault("argv", argv) and 42)
    monkeypatch.setattr(perf_stat, "stop_perf", lambda *a: type("R", (), {"stdout": PERF_STAT_CSV})())
    ctx = Context(None, 7, tmp_path)  # type: ignore[arg-type]
    collector = perf_stat.PerfStat()
    collector.prepare(ctx)
    events = started["argv"][started["argv"].index("-e") + 1].split(",")
    assert "kvmmmu:kvm_mmu_get_page" not in events and "kvm:kvm_exit" in events
    collected = collector.stop(ctx)
    assert collected.notes == {"perf_stat_missing_events": ["kvmmmu:kvm_mmu_get_page"]}
    assert collected.metrics["perf.kvm:kvm_exit"] == 1234.0
    monkeypatch.setattr(perf_stat, "available_events", lambda ctx, events: ([], list(events)))
    with pytest.raises(RuntimeError, match="none of the tracepoints"):
        collector.prepare(ctx)
