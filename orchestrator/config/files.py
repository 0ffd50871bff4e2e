"""Workloads' host files (`workloads.<name>.files`): each source made
absolute from the config file's folder and read now, so a missing or
unreadable file is named at load, with its line, not when a cell runs."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any, Protocol

from orchestrator.config.schema import Experiment
from orchestrator.errors import UserError
from orchestrator.paths import expand_user


class Checker(Protocol):
    def fail(self, loc: tuple[Any, ...], message: str) -> Any: ...


def unreadable(path: Path) -> str | None:
    """Why `path` is no readable file, if it is not (read, not stat: a
    build or a cell must not be the first to find out)."""
    try:
        with open(path, "rb") as f:
            f.read(1)
    except FileNotFoundError:
        return "file not found"
    except IsADirectoryError:
        return "not a file"
    except OSError as exc:
        return f"cannot read ({exc.strerror})"
    return None


def workload_files(chk: Checker, exp: Experiment, folder: Path) -> Experiment:
    workloads = {}
    for key, wdef in exp.workloads.items():
        files = []
        for i, f in enumerate(wdef.files):
            try:
                path = (folder / expand_user(f.src)).resolve()
            except UserError as exc:
                chk.fail(("workloads", key, "files", i, "src"), str(exc))
            problem = unreadable(path)
            if problem:
                chk.fail(("workloads", key, "files", i, "src"), f"{problem}: {f.src}")
            files.append(f.model_copy(update={"src": str(path)}))
        dests = [f.dest for f in files]
        if len(set(dests)) != len(dests):
            chk.fail(("workloads", key, "files"), "two files are copied to the same dest")
        workloads[key] = wdef.model_copy(update={"files": tuple(files)}) if files else wdef
    return exp.model_copy(update={"workloads": types.MappingProxyType(workloads)})
