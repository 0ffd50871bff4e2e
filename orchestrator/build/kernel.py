"""Build kernel recipes out of tree into the content-addressed cache.

Decisions are apart from the work (as in kunit_tool): `inputs.resolve()`
turns a recipe into hashed inputs and keys, `steps.plan()` into the
commands that build it from nothing; `KernelBuilder` runs them. One work
tree (source + objects) exists per tree key (source, base config,
fragments, compiler). Variants that differ only by patches share it: the
builder reverts the patches applied last and applies the wanted ones, so
make recompiles only the files the patches touch. ccache covers the rest.
Every entry carries reproduce.sh, which runs the whole plan in an empty
folder, however little of it the builder had to run.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from orchestrator import __version__, proc
from orchestrator.build import kconfig, reproduce, space, steps
from orchestrator.build.cache import Entry, FileHashes, Store, locked, sha256_file
from orchestrator.build.inputs import FORMAT, Inputs, patch_file, resolve
from orchestrator.build.steps import BZIMAGE, Ref, Step
from orchestrator.build.worktree import WorkTree, failures
from orchestrator.errors import InfraError, UserError
from orchestrator.paths import Project, cache_root, display

__all__ = ["BuildError", "Inputs", "Kernel", "KernelBuilder", "PatchError", "Progress", "resolve"]

logger = logging.getLogger(__name__)

# Fixed build identity: reproducible images and ccache hits across builds.
KBUILD_ENV = {
    "KBUILD_BUILD_TIMESTAMP": "2010-06-30 16:08:05 +0000",
    "KBUILD_BUILD_USER": "orchestrator",
    "KBUILD_BUILD_HOST": "orchestrator",
    "KBUILD_BUILD_VERSION": "1",
}
KVM_STAT = "tools/kvm/kvm_stat/kvm_stat"

Progress = Callable[[str, str], None]  # (phase, detail)


class BuildError(InfraError):
    """The build itself failed: carries the compiler's error and the log."""

    def __init__(self, message: str, log: Path | None = None, errors: str = ""):
        self.log = log
        self.errors = errors
        text = message
        if errors:
            text += f"\n{errors}"
        if log:
            text += f"\nfull log: {log}"
        super().__init__(text)


class PatchError(UserError):
    """A patch of the recipe does not apply to its source tree."""


class Kernel(Entry):
    """A built kernel in the cache."""

    @property
    def bzimage(self) -> Path:
        return self.path / "bzImage"

    @property
    def config(self) -> Path:
        return self.path / "config"

    @property
    def kvm_stat(self) -> Path:
        return self.path / "kvm_stat"

    @property
    def reproducer(self) -> Path:
        return self.path / reproduce.SCRIPT


@contextmanager
def _timed(times: dict[str, float], phase: str) -> Iterator[None]:
    t = time.monotonic()
    try:
        yield
    finally:
        times[phase] = time.monotonic() - t


class KernelBuilder:
    def __init__(
        self,
        project: Project,
        *,
        cache: Path | None = None,
        jobs: int | None = None,
        progress: Progress | None = None,
        use_ccache: bool = True,
    ):
        self.project = project
        self.root = (cache or cache_root()) / "kernel"
        self.store = Store(self.root / "builds")
        self.hashes = FileHashes(self.root / "file-hashes.json")
        self.jobs = jobs or os.cpu_count() or 1
        self.progress = progress or (lambda phase, detail: None)
        self.use_ccache = use_ccache and shutil.which("ccache") is not None
        self._ran: list[list[str]] = []

    # -- decisions ---------------------------------------------------------

    def inputs(self, name: str) -> Inputs:
        return resolve(self.project, name, self.hashes)

    def lookup(self, name: str) -> Kernel | None:
        start = time.monotonic()
        inputs = self.inputs(name)
        hit = self.store.lookup(inputs.key)
        return Kernel(name, inputs.key, hit, True, time.monotonic() - start) if hit else None

    def _make_vars(self) -> list[str]:
        cc = "ccache gcc" if self.use_ccache else "gcc"
        return [f"CC={cc}", f"HOSTCC={cc}"]

    def _env(self) -> dict[str, str]:
        env = dict(KBUILD_ENV)
        if self.use_ccache:
            env["CCACHE_DIR"] = str(self.root.parent / "ccache")
            # paths relative to the work trees, so trees of other keys hit too
            env["CCACHE_BASEDIR"] = str(self.root / "work")
            env["CCACHE_NOHASHDIR"] = "1"
            # depend mode: no separate preprocessor run on a miss (kbuild
            # passes -MMD), which keeps a cold build close to plain gcc
            env["CCACHE_DEPEND"] = "1"
            env.setdefault("CCACHE_MAXSIZE", "5G")
        return env

    # -- work --------------------------------------------------------------

    def make_env(self) -> tuple[list[str], dict[str, str]]:
        """make's variables and environment, for builds from the same work
        tree (the KVM selftests): the same compiler and ccache."""
        return self._make_vars(), self._env()

    @contextmanager
    def checked_out(self, inputs: Inputs, log: Path) -> Iterator[WorkTree]:
        """The work tree of `inputs`, locked, with exactly its patches
        applied: what else is built from a kernel's tree sees its sources."""
        tree = WorkTree(self.root / "work" / inputs.tree_key)
        with locked(self.root / "work" / f"{inputs.tree_key}.lock"):
            where = self._where(inputs, tree)
            self._prepare(inputs, tree, where, log)
            self._switch_patches(inputs, tree, where, log)
            yield tree


    def build(self, name: str) -> Kernel:
        self.progress("inputs", name)
        return self.build_inputs(self.inputs(name))

    def build_inputs(self, inputs: Inputs) -> Kernel:
        """Build resolved inputs (a recipe's, or ones derived from it: a
        coverage kernel's) unless the cache has them."""
        start = time.monotonic()
        name = inputs.name
        hit = self.store.lookup(inputs.key)
        if hit:
            return Kernel(name, inputs.key, hit, True, time.monotonic() - start)
        tree = WorkTree(self.root / "work" / inputs.tree_key)
        with locked(self.root / "work" / f"{inputs.tree_key}.lock"):
            hit = self.store.lookup(inputs.key)  # built meanwhile by another process
            if hit:
                return Kernel(name, inputs.key, hit, True, time.monotonic() - start)
            need = space.kernel_need((tree.src / "Makefile").is_file(), from_git=inputs.source["kind"] == "git")
            space.require(self.root, need, f"kernel {name}")
            return self._build_locked(inputs, tree, start)

    def _run(self, step: Step, where: steps.Where, log: Path, on_line=None, timeout: float = 3600) -> proc.Result:
        argv = step.argv_at(where)
        self._ran.append(argv)
        cwd = where(step.cwd) if step.cwd else None
        return proc.run(argv, cwd=cwd, env=self._env(), log=log, on_line=on_line, timeout=timeout)

    @staticmethod
    def _where(inputs: Inputs, tree: WorkTree) -> steps.Where:
        """Where the plan's references are in this build: the work tree, and
        the copies of the patches that the tree keeps to revert them."""
        def where(ref: Ref) -> str:
            if ref.base == "work":
                return str(tree.root / ref.rel)
            if ref.rel.startswith("patches/"):
                return str(tree.applied_dir / Path(ref.rel).name)
            return str(inputs.files[ref.rel])
        return where

    def _build_locked(self, inputs: Inputs, tree: WorkTree, start: float) -> Kernel:
        self._ran = []
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        # a recipe named by path (ab's, series') keeps its log in the cache too
        log = logs / f"{Path(inputs.name).stem}-{inputs.key}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.log"
        where = self._where(inputs, tree)
        times: dict[str, float] = {}
        with _timed(times, "prepare"):
            reused = self._prepare(inputs, tree, where, log)
            self._before_patches(inputs, tree)
        with _timed(times, "patch"):
            switched = self._switch_patches(inputs, tree, where, log)
        with _timed(times, "configure"):
            undefined = self._configure(inputs, tree, where, log)
        with _timed(times, "build"):
            self._compile(inputs, where, log)
        t = time.monotonic()
        with self.store.staging(inputs.key) as stage:
            self.progress("publish", inputs.key)
            shutil.copy2(tree.obj / BZIMAGE, stage / "bzImage")
            shutil.copy2(tree.obj / ".config", stage / "config")
            if (tree.src / KVM_STAT).is_file():
                shutil.copy2(tree.src / KVM_STAT, stage / "kvm_stat")
            shutil.copy2(log, stage / "build.log")
            self._publish_extra(inputs, tree, stage)
            plan = steps.plan(inputs, self._make_vars(), self.jobs)
            reproduce.publish(stage, inputs, plan, KBUILD_ENV, __version__)
            times["publish"] = time.monotonic() - t
            times["total"] = time.monotonic() - start
            meta = self._metadata(inputs, stage, times, reused, switched)
            meta["fragment_symbols_undefined"] = [str(d) for d in undefined]
            meta["reproduce"] = reproduce.metadata(inputs.name, plan, KBUILD_ENV, self._ran)
            (stage / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
        return Kernel(inputs.name, inputs.key, self.store.entry(inputs.key), False, time.monotonic() - start)

    # hooks for derived builds (build/coverage.py): inputs made from the
    # tree itself before patching, and more of the tree kept in the entry
    def _before_patches(self, inputs: Inputs, tree: WorkTree) -> None:
        pass

    def _publish_extra(self, inputs: Inputs, tree: WorkTree, stage: Path) -> None:
        pass

    def _prepare(self, inputs: Inputs, tree: WorkTree, where: steps.Where, log: Path) -> bool:
        """Extract the source unless a clean tree of this key is there."""
        tree.mark_used(inputs.name)
        if tree.reusable():
            self.progress("prepare", f"reusing work tree {inputs.tree_key}")
            return True
        self.progress("prepare", "extracting the source")
        shutil.rmtree(tree.src, ignore_errors=True)
        shutil.rmtree(tree.applied_dir, ignore_errors=True)
        tree.symbols.unlink(missing_ok=True)
        for step in steps.extract(inputs):
            self._run(step, where, log)
        if not (tree.src / "Makefile").is_file():
            raise BuildError(f"{inputs.files['source']} does not unpack to a kernel tree (no top-level Makefile)", log)
        tree.save(True, [])
        return False

    def _switch_patches(self, inputs: Inputs, tree: WorkTree, where: steps.Where, log: Path) -> dict[str, list[str]]:
        """Revert what is applied beyond the common prefix, apply the rest.
        Each patch is tried with --dry-run first: one that does not apply
        leaves the tree as it was before it, clean and reusable."""
        applied = [tuple(p) for p in tree.state()["applied"]]
        wanted = list(inputs.patches)
        common = 0
        while common < min(len(applied), len(wanted)) and applied[common] == wanted[common]:
            common += 1
        revert, apply = applied[common:], wanted[common:]
        if not revert and not apply:
            return {"reverted": [], "applied": []}
        tree.save(False, applied)  # until done, the tree is in an unknown state
        tree.applied_dir.mkdir(exist_ok=True)
        for i, (name, _) in reversed(list(enumerate(revert, start=common))):
            self.progress("patch", f"reverting {name}")
            self._revert(patch_file(i, name), tree, where, log)
        for i, (name, _) in enumerate(apply, start=common):
            self.progress("patch", f"applying {name}")
            rel = patch_file(i, name)
            shutil.copy2(inputs.files[rel], tree.applied_dir / Path(rel).name)
            self._apply(rel, inputs, tree, where, log, wanted[:i])
        tree.save(True, wanted)
        return {"reverted": [n for n, _ in revert], "applied": [n for n, _ in apply]}

    def _revert(self, rel: str, tree: WorkTree, where: steps.Where, log: Path) -> None:
        try:
            self._run(steps.patch(rel, reverse=True), where, log)
        except proc.CommandFailed as exc:  # the exact copy once applied: the tree was changed behind us
            raise BuildError(f"cannot revert {Path(rel).name} in {tree.src}; it will be extracted again:\n{exc.tail}", log) from None
        (tree.applied_dir / Path(rel).name).unlink()

    def _apply(self, rel: str, inputs: Inputs, tree: WorkTree, where: steps.Where, log: Path,
               before: list[tuple[str, str]]) -> None:
        step = steps.patch(rel)
        try:
            self._run(steps.dry_run(step), where, log)
        except proc.CommandFailed as exc:
            (tree.applied_dir / Path(rel).name).unlink()
            tree.save(True, before)  # a dry run changed nothing
            found = failures(exc.tail) or [f"patch says:\n{exc.tail.strip()}"]
            raise PatchError(
                f"kernel {inputs.name}: patch {display(inputs.files[rel])} does not apply to "
                f"{display(inputs.files['source'])}{' with the patches before it' if before else ''}:\n"
                + "\n".join(f"  {line}" for line in found)
            ) from None
        self._run(step, where, log)

    def _configure(self, inputs: Inputs, tree: WorkTree, where: steps.Where, log: Path) -> list[kconfig.Dropped]:
        """Base config, fragments, olddefconfig; then every symbol asked for
        must be there, unless this tree's Kconfig does not define it at all
        (gone in this version: reported, returned, skipped)."""
        self.progress("configure", "base config, fragments, olddefconfig")
        for step in steps.configure(inputs, self._make_vars()):
            self._run(step, where, log)
        stamp = tree.state()["applied"]
        checked = kconfig.check(
            (tree.obj / ".config").read_text(),
            {n: inputs.files[f].read_text() for (n, _), f in zip(inputs.fragments, inputs.fragment_files)},
            lambda: kconfig.cached_symbols(tree.src, tree.symbols, stamp),
        )
        if checked.lost:
            raise BuildError(
                f"{len(checked.lost)} symbol(s) asked for by the fragments did not survive olddefconfig "
                "(missing dependencies?):\n" + "\n".join(f"  {d}" for d in checked.lost),
                log,
            )
        for d in checked.undefined:
            log_line = f"kernel {inputs.name}: {d.symbol} ({d.fragment}) is not defined by this tree's Kconfig: skipped"
            logger.warning(log_line)
        return checked.undefined

    def _compile(self, inputs: Inputs, where: steps.Where, log: Path) -> None:
        count = 0

        def on_line(line: str) -> None:
            nonlocal count
            stripped = line.strip()
            if stripped.startswith(("CC ", "AS ", "LD ", "AR ", "OBJCOPY ")):
                count += 1
                self.progress("build", f"{count} steps: {stripped}")

        try:
            self._run(steps.build(inputs, self._make_vars(), self.jobs), where, log, on_line=on_line)
        except proc.CommandFailed:
            raise BuildError(f"kernel {inputs.name}: make {inputs.target} failed", log, _compiler_errors(log)) from None
        if not Path(where(Ref("work", f"obj/{BZIMAGE}"))).is_file():
            raise BuildError(f"kernel {inputs.name}: make succeeded but {BZIMAGE} is missing", log)

    def _metadata(self, inputs: Inputs, stage: Path, times: dict[str, float], reused: bool, switched) -> dict[str, Any]:
        ccache = None
        if self.use_ccache:
            ccache = proc.run(["ccache", "--version"], timeout=30).output.splitlines()[0]
        artifacts = {
            name: {"sha256": sha256_file(stage / name), "bytes": (stage / name).stat().st_size}
            for name in ("bzImage", "config", "kvm_stat") if (stage / name).is_file()
        }
        return {
            "kind": "kernel",
            "name": inputs.name,
            "key": inputs.key,
            "tree_key": inputs.tree_key,
            "format": FORMAT,
            "tool_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "inputs": inputs.as_json(),
            "compiler": inputs.compiler,
            "ccache": ccache,
            "jobs": self.jobs,
            "durations_s": {k: round(v, 3) for k, v in times.items()},
            "reused_work_tree": reused,
            "patches_switched": switched,
            "config_file": "config",
            "artifacts": artifacts,
        }

def _compiler_errors(log: Path, limit: int = 30) -> str:
    """The lines of a failed build that say what failed."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    picked = [ln for ln in lines if "error:" in ln or "Error " in ln or ln.startswith("make") and "***" in ln]
    return "\n".join((picked or lines)[-limit:])
