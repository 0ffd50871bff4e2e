"""Writes tests/data/results/: a small synthetic run with known numbers, for
the diff golden files. Run it again only if the record format changes."""

import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent / "results" / "20261125T000000Z-synthetic-000001"
JITTER = [0, 3, -2, 1, -1, 2]


def main() -> None:
    (ROOT / "cells").mkdir(parents=True, exist_ok=True)
    manifest = {
        "schema": 1, "config": "configs/prefetch.yaml", "experiment": "synthetic", "label": "synthetic",
        "started": "2026-11-25T00:00:00+00:00", "tool_version": "0.1.0",
        "accel": {"accel": "tcg", "cpu_model": "max", "reason": "auto: the host CPU has no vmx/svm flag"},
        "host": {"cpu": "Synthetic CPU @ 2.00GHz", "vendor": "GenuineIntel", "cores": 2},
        "qemu_version": "7.2.0",
        "artifacts": {
            "kernels": {
                "baseline": {"recipe": "baseline", "key": "b0b0b0b0b0b0b0b0b0b0b0b0", "patches": [
                    {"file": "0001-remove-prefetch.patch", "sha256": "aa" * 32,
                     "subject": "KVM: MMU: remove pte prefetch", "author": "A U Thor <a@example.org>"}]},
                "patched": {"recipe": "patched", "key": "c1c1c1c1c1c1c1c1c1c1c1c1", "patches": [
                    {"file": "0001-remove-prefetch.patch", "sha256": "aa" * 32,
                     "subject": "KVM: MMU: remove pte prefetch", "author": "A U Thor <a@example.org>"},
                    {"file": "0002-prefetch.patch", "sha256": "bb" * 32,
                     "subject": "KVM: MMU: prefetch ptes when intercepted guest #PF",
                     "author": "Xiao Guangrong <xiaoguangrong@cn.fujitsu.com>"}]}},
            "l2_kernel": {"recipe": "upstream", "key": "d2d2d2d2d2d2d2d2d2d2d2d2"},
            "images": {"l1": {"recipe": "l1", "key": "e3e3e3e3e3e3e3e3e3e3e3e3"},
                       "l2": {"recipe": "l2", "key": "f4f4f4f4f4f4f4f4f4f4f4f4"}}},
        "resolved_config": {"expectations": [
            {"name": "fewer faults with shadow paging", "metric": "kvm.pf_fixed", "change": "decrease",
             "when": {"tdp": "off"}, "min_effect_pct": 20.0},
            {"name": "no change with tdp on", "metric": "kvm.pf_fixed", "change": "none",
             "when": {"tdp": "on"}, "min_effect_pct": 5.0},
            {"name": "exec-storm is not in this run", "metric": "kvm.pf_fixed", "change": "decrease",
             "when": {"workload": "exec-storm"}, "min_effect_pct": 5.0}]},
    }
    (ROOT / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    values = {("baseline", "off"): (34133, 38887, 2.2), ("patched", "off"): (5079, 9466, 0.48),
              ("baseline", "on"): (11, 828, 0.031), ("patched", "on"): (11, 830, 0.030)}
    for (kernel, tdp), (pf, exits, secs) in values.items():
        for rep, jitter in enumerate(JITTER, start=1):
            cid = f"r{rep:03d}.tdp-{tdp}.file-mmap.{kernel}"
            rec = {
                "schema": 1, "status": "ok", "failure": None, "timings": {"cell_s": 40.0}, "notes": {},
                "cell": {"id": cid, "index": 0, "kernel": kernel, "tdp": tdp, "workload": "file-mmap", "rep": str(rep)},
                "metrics": {"kvm.pf_fixed": pf + (jitter if pf > 100 else 0), "kvm.exits": exits + jitter * 2,
                            "workload.seconds": round(secs * (1 + jitter / 100), 4)},
            }
            (ROOT / "cells" / f"{cid}.json").write_text(json.dumps(rec, indent=2, sort_keys=True) + "\n")
    failed = {
        "schema": 1, "status": "failed", "metrics": {}, "timings": {"cell_s": 10.0}, "notes": {},
        "cell": {"id": "r007.tdp-off.file-mmap.baseline", "index": 0, "kernel": "baseline", "tdp": "off",
                 "workload": "file-mmap", "rep": "7"},
        "failure": {"class": "panic", "level": "L2", "message": "Kernel panic", "evidence": ""},
    }
    (ROOT / "cells" / "r007.tdp-off.file-mmap.baseline.json").write_text(json.dumps(failed, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
