"""Run configs through the CLI entry, each in its own process under limits.

    python tests/hostile_run.py [--limit-s 5] [--memory-mib 1024] CONFIG...

Imports orchestrator once, then forks one child per config that sets
RLIMIT_AS (and RLIMIT_CPU as a backstop), points stderr at a file and calls
`orchestrator.cli.main.main(["run", CONFIG, "--dry-run"])`; the child is
killed if it outlives the wall-clock limit. The import (about 2 s, most of
it scipy) is paid once instead of per case, so the limit measures the load
itself. Prints one JSON line per config: path, rc (None if killed), wall
and CPU seconds, maxrss_mib, killed, stderr. Used by
tests/unit/test_config_hostile.py and bench/config_hostile.py; test code,
so it may fork and wait as it likes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

# the repo instead of tests/, whose qemu/ would hide the qemu package
sys.path[0] = str(Path(__file__).resolve().parents[1])

from orchestrator.cli.main import main  # noqa: E402 - after the path is set


def _child(config: str, limit_s: float, memory: int, err_fd: int) -> None:
    rc = 99
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        cpu = int(limit_s) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        os.dup2(err_fd, 2)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.environ["COLUMNS"] = "400"
        rc = main(["run", config, "--dry-run"])
    except BaseException:  # noqa: BLE001 - report anything, the parent judges
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)


def run_one(config: str, limit_s: float, memory: int) -> dict[str, object]:
    with tempfile.TemporaryFile() as err:
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(config, limit_s, memory, err.fileno())
        killed = False
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() - start > limit_s:
                os.kill(pid, signal.SIGKILL)
                killed = True
                _, status, usage = os.wait4(pid, 0)
                break
            time.sleep(0.002)
        wall = time.monotonic() - start
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    return {
        "path": config,
        "rc": os.waitstatus_to_exitcode(status) if not killed else None,
        "seconds": round(wall, 3),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
        "maxrss_mib": round(usage.ru_maxrss / 1024, 1),
        "killed": killed,
        "stderr": text,
    }


def main_(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit-s", type=float, default=5.0)
    p.add_argument("--memory-mib", type=int, default=1024)
    p.add_argument("configs", nargs="+")
    args = p.parse_args(argv)
    for config in args.configs:
        print(json.dumps(run_one(config, args.limit_s, args.memory_mib << 20)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main_())
