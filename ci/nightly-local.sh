#!/usr/bin/env bash
# Run exactly what the nightly runs, on this machine: every shard of
# ci/nightly.yaml, merged, compared, then configs/nested-legacy-mmu.yaml
# and configs/selftest-perf.yaml. Usage: ci/nightly-local.sh [SHARDS]
set -euo pipefail
cd "$(dirname "$0")/.."
shards=${1:-4}
out=nightly-local
history=nightly-history  # kept across runs of this script: one record per night
rm -rf "$out"
# the gate once (the shards skip it); its exit code (7: a new failure) at the end
gate_rc=0
.venv/bin/orchestrator gate ci/nightly.yaml --results "$out/gate" --label nightly-gate --format md || gate_rc=$?
for i in $(seq 1 "$shards"); do
  .venv/bin/orchestrator run ci/nightly.yaml --shard "$i/$shards" --results "$out/shards/$i" --label nightly
done
.venv/bin/orchestrator merge "$out"/shards/*/* --results "$out/merged" --label nightly
.venv/bin/orchestrator diff baseline patched --results "$out/merged" --format md
.venv/bin/orchestrator diff baseline baseline-aa --results "$out/merged" --format md
.venv/bin/orchestrator diff baseline patched --results "$out/merged" --format html --output "$out/report.html"
.venv/bin/orchestrator history add "$out"/merged/* --history "$history"
.venv/bin/orchestrator history show --history "$history" --output "$out/trend.html"
.venv/bin/orchestrator diff baseline patched --results "$out/merged" --format json --output /dev/null --fail-on expectation
# the direct-map half: NPT on, legacy and TDP MMU, L2 preallocated
.venv/bin/orchestrator run configs/nested-legacy-mmu.yaml --results "$out/legacy-mmu" --label legacy-mmu
.venv/bin/orchestrator diff baseline patched --results "$out/legacy-mmu" --format md
.venv/bin/orchestrator diff baseline patched --results "$out/legacy-mmu" --format json --output /dev/null --fail-on expectation
# KVM's perf selftests as workloads in L1 (time figures: no verdict under TCG)
.venv/bin/orchestrator run configs/selftest-perf.yaml --results "$out/selftest-perf" --label selftest-perf
.venv/bin/orchestrator diff baseline patched --results "$out/selftest-perf" --format md
exit "$gate_rc"
