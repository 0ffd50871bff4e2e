"""Build a kernel's own KVM selftests from its work tree into the cache.

The selftests are built from the same source and patches as the kernel's
bzImage (its work tree, checked out to its patches), as static x86_64
programs, so L1's root file system needs nothing of theirs. `make -k`: a
test that does not build on this tree is recorded with its compiler error
and the others are kept. The entry is keyed by the kernel's key (source,
fragments, patches, compiler) and FORMAT, in a store of its own
(`<cache>/selftests/builds/<key>`): a change to the tree, the
patches or the selftests' sources (all in the tree) rebuilds it.

Objects live beside the work tree (`selftests/`), shared by the variants of
that tree: make recompiles what a patch switch touched, ccache the rest.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from orchestrator import proc
from orchestrator.build.cache import Entry, Store, key_of
from orchestrator.build.kernel import BuildError, KernelBuilder
from orchestrator.build.worktree import WorkTree

# Bump when the layout of an entry or the way it is built changes.
FORMAT = 2
SUITE = "tools/testing/selftests/kvm"
MANIFEST = "selftests.json"
# A rule read with the suite's Makefile: its programs, as the tree names them
# (the list differs between kernel versions; only make knows it).
LIST_RULE = "orchestrator-list-programs: ; @echo $(TEST_GEN_PROGS) $(TEST_GEN_PROGS_EXTENDED)"
# static: the programs run on L1's root file system, whatever its libc;
# -pthread and -no-pie as the suite's own LDFLAGS, which this replaces
LDFLAGS = "LDFLAGS=-static -pthread -no-pie"
ERROR_LINES = 30


class Selftests(Entry):
    """A kernel's built KVM selftests in the cache."""

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.path / MANIFEST).read_text())

    @property
    def built(self) -> dict[str, str]:
        """Test name -> its path in the suite (x86_64/smm_test)."""
        return dict(self.manifest["built"])

    @property
    def failed(self) -> dict[str, str]:
        """Test name -> the compiler's error: the tests that did not build."""
        return dict(self.manifest["failed"])

    def program(self, name: str) -> Path:
        return self.bin / name


def key(kernel_key: str) -> str:
    return key_of({"kernel": kernel_key, "format": FORMAT, "suite": SUITE})


def name_of(program: str) -> str:
    """A test is named by its file name: the folder (x86_64/, x86/) moved
    between kernel versions, the names did not."""
    return Path(program).name


@dataclass(frozen=True)
class Commands:
    """The argv lists of one selftests build (decisions, apart from the work)."""

    tree: WorkTree
    output: Path  # make's OUTPUT: objects and programs
    make_vars: tuple[str, ...]
    jobs: int

    @property
    def headers(self) -> Path:
        return self.tree.obj / "usr"

    def headers_target(self) -> list[str]:
        return ["make", "-C", str(self.tree.src), f"O={self.tree.obj}", *self.make_vars, "headers"]

    def _suite(self, *args: str) -> list[str]:
        return ["make", "-C", str(self.tree.src / SUITE), f"OUTPUT={self.output}",
                f"INSTALL_HDR_PATH={self.headers}", f"KHDR_INCLUDES=-isystem {self.headers}/include",
                *self.make_vars, LDFLAGS, *args]

    def list_programs(self) -> list[str]:
        return self._suite("-s", f"--eval={LIST_RULE}", "orchestrator-list-programs")

    def build_all(self) -> list[str]:
        return self._suite("-k", f"-j{self.jobs}")

    def build_one(self, program: Path) -> list[str]:
        return self._suite(str(program))


def compiler_errors(output: str, limit: int = ERROR_LINES) -> str:
    """What a failed build of one program says about why."""
    lines = output.splitlines()
    picked = [ln for ln in lines if "error" in ln or "undefined reference" in ln or "***" in ln]
    return "\n".join((picked or lines)[-limit:])


class SelftestBuilder:
    def __init__(self, kernels: KernelBuilder):
        self.kernels = kernels
        # a store of its own beside the kernels' (cache du, verify and gc know it)
        self.store = Store(kernels.root.parent / "selftests" / "builds")

    def lookup(self, name: str) -> Selftests | None:
        inputs = self.kernels.inputs(name)
        hit = self.store.lookup(key(inputs.key))
        return Selftests(name, key(inputs.key), hit, True, 0.0) if hit else None

    def build(self, name: str) -> Selftests:
        start = time.monotonic()
        inputs = self.kernels.inputs(name)
        k = key(inputs.key)
        if hit := self.store.lookup(k):
            return Selftests(name, k, hit, True, time.monotonic() - start)
        logs = self.kernels.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        # a recipe named by path: its file's stem (as the kernel's own log)
        log = logs / f"selftests-{Path(name).stem}-{k}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.log"
        with self.kernels.checked_out(inputs, log) as tree:
            if hit := self.store.lookup(k):  # built meanwhile by another process
                return Selftests(name, k, hit, True, time.monotonic() - start)
            make_vars, env = self.kernels.make_env()
            cmds = Commands(tree, tree.root / "selftests", tuple(make_vars), self.kernels.jobs)
            built, failed, times = self._make(cmds, env, log, name)
            with self.store.staging(k) as stage:
                self._publish(stage, cmds.output, built, failed, log)
                times["total"] = time.monotonic() - start
                meta = {"kind": "selftests", "name": name, "key": k, "kernel_key": inputs.key,
                        "tree_key": inputs.tree_key, "format": FORMAT, "suite": SUITE,
                        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        "durations_s": {p: round(t, 3) for p, t in times.items()},
                        "built": len(built), "failed": sorted(failed)}
                (stage / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
        return Selftests(name, k, self.store.entry(k), False, time.monotonic() - start)

    def _make(self, cmds: Commands, env: dict[str, str], log: Path,
              name: str) -> tuple[dict[str, Path], dict[str, str], dict[str, float]]:
        times: dict[str, float] = {}
        t = time.monotonic()
        self.kernels.progress("selftests", f"{name}: make headers")
        self._run(cmds.headers_target(), env, log, f"selftests of {name}: make headers")
        listed = self._run(cmds.list_programs(), env, log, f"selftests of {name}: listing the programs")
        programs = [Path(p) for p in listed.output.split() if p.startswith("/")]
        if not programs:
            raise BuildError(f"selftests of {name}: {SUITE} lists no programs", log)
        for program in programs:  # a stale program of another variant must not pass for built
            program.unlink(missing_ok=True)
        times["prepare"] = time.monotonic() - t
        t = time.monotonic()
        count = 0

        def on_line(line: str) -> None:
            nonlocal count
            if line.startswith(("gcc", "ccache")):
                count += 1
                self.kernels.progress("selftests", f"{name}: {count} compiled")

        proc.run(cmds.build_all(), env=env, log=log, on_line=on_line, check=False, timeout=3600)
        times["build"] = time.monotonic() - t
        t = time.monotonic()
        built = {name_of(str(p)): p for p in programs if p.is_file()}
        failed = {}
        for program in programs:
            if not program.is_file():  # again alone: its own error, not the interleaved -j output
                again = proc.run(cmds.build_one(program), env=env, log=log, check=False, timeout=600)
                # paths from the tree's top, not this machine's cache
                failed[name_of(str(program))] = compiler_errors(again.output).replace(f"{cmds.tree.root}/", "")
        times["diagnose"] = time.monotonic() - t
        return built, failed, times

    @staticmethod
    def _run(argv: list[str], env: dict[str, str], log: Path, what: str) -> proc.Result:
        try:
            return proc.run(argv, env=env, log=log, timeout=1800)
        except proc.CommandFailed as exc:
            raise BuildError(f"{what} failed", log, compiler_errors(exc.tail)) from None

    @staticmethod
    def _publish(stage: Path, output: Path, built: dict[str, Path], failed: dict[str, str], log: Path) -> None:
        (stage / "bin").mkdir()
        paths = {}
        for name, program in sorted(built.items()):
            shutil.copy2(program, stage / "bin" / name)
            paths[name] = str(program.relative_to(output))
        shutil.copy2(log, stage / "build.log")
        (stage / MANIFEST).write_text(json.dumps({"built": paths, "failed": failed}, indent=2, sort_keys=True) + "\n")
