"""The commands and the one-line summary each shows in `orchestrator
--help`: here, apart from the modules, so the top-level help lists every
command without importing any (they pull in scipy, matplotlib, fabric)."""

COMMANDS = {
    "run": "run an experiment config",
    "gate": "run the kernel's KVM selftests on each kernel (the correctness gate)",
    "diff": "compare two kernels (or runs) with statistics",
    "coverage": "did the experiment run the patched code? (gcov of the changed lines per cell group)",
    "ab": "A/B a patch series: build, run and diff base against base+patches",
    "series": "the effect of each patch of a series, step by step",
    "bisect": "find the first patch or commit of a series that moved a metric",
    "history": "the nightly's history: add a night, show trends and change points",
    "merge": "combine shard runs into one run",
    "list": "list configs, kernels, images, workloads, knobs, runs",
    "doctor": "check what this host can do",
    "build": "build a kernel or image recipe into the cache",
    "shell": "boot a cell's machines for debugging",
    "cache": "list, verify and clean the build cache",
}
MODULES = {"list": "listing"}  # a command whose module is not named after it
