"""A kernel entry's reproducer: reproduce.sh and the files it needs.

The script is ours, written from the plan's argv lists (each word quoted
with shlex), never from a string a recipe gave: it sets the build identity,
then runs every step from an empty folder to bzImage. The patches,
fragments and base config it names are copied into the entry, so it keeps
working when kernels/ changes or moves; only the source tarball (or git
tree) is named where it was, with its sha256 checked first.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path
from typing import Any

from orchestrator.build.inputs import Inputs
from orchestrator.build.steps import Step

SCRIPT = "reproduce.sh"

_HEAD = """\
#!/bin/sh
# Rebuilds kernel {name} (cache key {key}) from nothing, with the steps
# orchestrator's build took, in order; the fragments' dropped-symbol check
# is orchestrator's own and is not repeated here.
# Usage: sh reproduce.sh [FOLDER]   (an empty folder to build in; default: .)
# Written by orchestrator {version}; the files it names sit next to it.
set -eu
ENTRY=$(cd "$(dirname "$0")" && pwd)
WORK=${{1:-.}}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
"""


def script(inputs: Inputs, steps: list[Step], env: dict[str, str], version: str) -> str:
    lines = [_HEAD.format(name=inputs.name, key=inputs.key, version=version)]
    lines += [f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items())]
    lines.append("set -x\n")
    lines += [step.shell() + "\n" for step in steps]
    return "".join(lines)


def publish(stage: Path, inputs: Inputs, steps: list[Step], env: dict[str, str], version: str) -> None:
    """reproduce.sh into the entry being assembled, with copies of the inputs."""
    for name, path in inputs.files.items():
        if name == "source":
            continue
        dest = stage / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    if inputs.source["kind"] != "git":
        (stage / "source.sha256").write_text(f"{inputs.source['sha256']}  {inputs.files['source']}\n")
    (stage / SCRIPT).write_text(script(inputs, steps, env, version))
    os.chmod(stage / SCRIPT, 0o755)


def metadata(name: str, steps: list[Step], env: dict[str, str], ran: list[list[str]]) -> dict[str, Any]:
    """metadata.json's `reproduce`: every step from nothing (what reproduce.sh
    runs), and, apart, the commands this build ran (fewer when it reused a
    work tree, and with the work tree's paths)."""
    return {
        "command": f"orchestrator build kernel {name}",
        "script": SCRIPT,
        "environment": dict(env),
        "placeholders": {
            "${WORK}": "an empty folder to build in (reproduce.sh's argument)",
            "${ENTRY}": "this cache entry's folder, which holds the patches, fragments and base config",
        },
        "steps": [step.as_json() for step in steps],
        "ran": [shlex.join(argv) for argv in ran],
    }
