"""KVM's debugfs counters of L2's VM: /sys/kernel/debug/kvm/<pid>-<fd>/.

Every numeric file there, before and after the workload, and the delta.
Names that exist on one side only are kept out of the delta (and noted),
so kernels whose stat names differ still compare on the common ones.
"""

from __future__ import annotations

import json

from orchestrator.collectors.base import Collected, Context, numbers

NAME = "kvm-debugfs"
_READ = 'grep -s -H . "$1"-*/*; true'


def snapshot(ctx: Context) -> dict[str, int]:
    out = ctx.l1.run(["sh", "-c", _READ, "orch-kvm", f"/sys/kernel/debug/kvm/{ctx.l2_pid}"], check=True).stdout
    pairs = {}
    for line in out.splitlines():
        path, sep, value = line.partition(":")
        if sep:
            pairs[path.rsplit("/", 1)[-1]] = value
    values = numbers(pairs)
    if not values:
        raise RuntimeError(f"no KVM debugfs counters for L2's VM (pid {ctx.l2_pid}) in L1")
    return values


def delta(before: dict[str, int], after: dict[str, int]) -> tuple[dict[str, int], list[str]]:
    common = sorted(set(before) & set(after))
    only = sorted(set(before) ^ set(after))
    return {k: after[k] - before[k] for k in common}, only


class KvmDebugfs:
    name = NAME

    def prepare(self, ctx: Context) -> None:
        pass  # nothing runs between snapshots

    def start(self, ctx: Context) -> None:
        ctx.state[NAME] = snapshot(ctx)

    def stop(self, ctx: Context) -> Collected:
        before, after = ctx.state.pop(NAME), snapshot(ctx)
        diff, only = delta(before, after)
        (ctx.logs / "kvm-debugfs.json").write_text(json.dumps(
            {"before": before, "after": after, "delta": diff, "one_side_only": only}, indent=2))
        return Collected({f"kvm.{k}": float(v) for k, v in diff.items()}, ["kvm-debugfs.json"])
