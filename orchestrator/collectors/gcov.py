"""gcov counters of a coverage kernel (build/coverage.py): reset just
before the workload, read just after, from L1's debugfs.

Only the raw `.gcda` data is collected here (base64 over SSH: the files
are binary); turning it into line counts needs the kernel's `.gcno` notes,
which the coverage kernel's cache entry holds (coverage/pass_.py).
"""

from __future__ import annotations

import base64
import json

from orchestrator.collectors.base import Collected, Context, bash

NAME = "gcov"
ROOT = "/sys/kernel/debug/gcov"
OUT = "gcov.json"  # {debugfs path below ROOT: base64 of its .gcda}
_RESET = '[ -e "$1/reset" ] || exit 97; echo 1 > "$1/reset"'
# one `== path` line and one base64 line per counter file; 97: no gcov here
_READ = """[ -e "$1/reset" ] || exit 97
find "$1" -name '*.gcda' | while read -r f; do echo "== ${f#$1}"; base64 -w0 "$f"; echo; done"""
_MISSING = f"{ROOT} is missing in L1: this is not a coverage kernel (orchestrator coverage builds them)"


class Gcov:
    name = NAME

    def prepare(self, ctx: Context) -> None:
        pass

    def start(self, ctx: Context) -> None:
        r = bash(ctx, _RESET, "orch-gcov-reset", ROOT)
        if r.exit_code != 0:
            raise RuntimeError(_MISSING if r.exit_code == 97 else f"gcov reset failed: {r.stderr.strip()[-300:]}")

    def stop(self, ctx: Context) -> Collected:
        r = bash(ctx, _READ, "orch-gcov-read", ROOT, timeout=300)
        if r.exit_code != 0:
            raise RuntimeError(_MISSING if r.exit_code == 97 else f"reading gcov data failed: {r.stderr.strip()[-300:]}")
        files = parse(r.stdout)
        if not files:
            raise RuntimeError(f"no .gcda files under {ROOT} in L1: the kernel instruments nothing")
        (ctx.logs / OUT).write_text(json.dumps(files, indent=1, sort_keys=True))
        return Collected({}, [OUT], {"gcov_files": len(files)})


def parse(text: str) -> dict[str, str]:
    out, path = {}, None
    for line in text.splitlines():
        if line.startswith("== "):
            path = line[3:]
        elif path is not None:
            base64.b64decode(line, validate=True)  # a truncated transfer fails here, not later
            out[path], path = line, None
    return out
