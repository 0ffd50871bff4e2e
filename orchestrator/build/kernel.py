"""Build kernel recipes out of tree into the content-addressed cache.

Decisions are apart from the work (as in kunit_tool): `resolve()` turns a
recipe into hashed inputs and keys without touching the cache; `KernelBuilder`
does the work. One work tree (source + objects) exists per tree key (source,
base config, fragments, compiler). Variants that differ only by patches share
it: the builder reverts the patches applied last and applies the wanted ones,
so make recompiles only the files the patches touch. ccache covers the rest.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from orchestrator import __version__, proc
from orchestrator.build import kconfig, space
from orchestrator.build.cache import Entry, FileHashes, Store, key_of, locked, sha256_file
from orchestrator.config import load_kernel_recipe
from orchestrator.config.load import BASE_CONFIG_TARGETS
from orchestrator.config.schema import KernelRecipe
from orchestrator.errors import InfraError, UserError
from orchestrator.paths import Project, cache_root

# Bump when the layout of an entry or the build procedure changes.
FORMAT = 1
# Fixed build identity: reproducible images and ccache hits across builds.
KBUILD_ENV = {
    "KBUILD_BUILD_TIMESTAMP": "2010-06-30 16:08:05 +0000",
    "KBUILD_BUILD_USER": "orchestrator",
    "KBUILD_BUILD_HOST": "orchestrator",
    "KBUILD_BUILD_VERSION": "1",
}
BZIMAGE = "arch/x86/boot/bzImage"
KVM_STAT = "tools/kvm/kvm_stat/kvm_stat"
WORK_STAMP = "last-used"  # in a work tree: the recipe of the last build that used it

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
    pass


@dataclass(frozen=True)
class Inputs:
    """Everything a build depends on, hashed."""

    name: str
    source: dict[str, str]
    base_config: dict[str, str]
    fragments: tuple[tuple[str, str], ...]  # (name, sha256)
    patches: tuple[tuple[str, str], ...]
    compiler: str
    target: str
    files: dict[str, Path] = field(compare=False, repr=False)  # where each input lives

    @property
    def tree_key(self) -> str:
        return key_of({
            "format": FORMAT, "source": self.source, "base_config": self.base_config,
            "fragments": self.fragments, "compiler": self.compiler,
        })

    @property
    def key(self) -> str:
        return key_of({"tree": self.tree_key, "patches": self.patches, "target": self.target})

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "base_config": self.base_config,
            "fragments": [{"name": n, "sha256": h} for n, h in self.fragments],
            "patches": [{"name": n, "sha256": h} for n, h in self.patches],
            "compiler": self.compiler,
            "target": self.target,
        }


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


def compiler_version() -> str:
    try:
        out = proc.run(["gcc", "--version"], timeout=30).output
    except InfraError as exc:
        raise InfraError("gcc is missing: run ./setup.sh") from exc
    return out.splitlines()[0].strip()


def _source_identity(project: Project, recipe: KernelRecipe, hashes: FileHashes) -> tuple[dict[str, str], Path]:
    src = recipe.source
    if src.debian_package:
        tarball = Path("/usr/src") / f"{src.debian_package}.tar.xz"
        if not tarball.is_file():
            raise UserError(f"{tarball} is missing: install the Debian package {src.debian_package} (./setup.sh does)")
        return {"kind": "debian_package", "package": src.debian_package, "sha256": hashes.get(tarball)}, tarball
    if src.tarball:
        tarball = (project.kernels / src.tarball).resolve()
        return {"kind": "tarball", "name": tarball.name, "sha256": hashes.get(tarball)}, tarball
    assert src.git
    repo = Path(src.git).expanduser().resolve()
    ref = src.ref or "HEAD"
    try:
        commit = proc.run(["git", "-C", str(repo), "rev-parse", "--verify", f"{ref}^{{commit}}"], timeout=60).output.strip()
    except InfraError as exc:
        raise UserError(f"kernel source {repo}: cannot resolve ref {ref!r}") from exc
    return {"kind": "git", "commit": commit}, repo


def resolve(project: Project, name: str, hashes: FileHashes, compiler: str | None = None) -> Inputs:
    recipe = load_kernel_recipe(project, name)
    source, source_path = _source_identity(project, recipe, hashes)
    files: dict[str, Path] = {"source": source_path}
    if recipe.base_config not in BASE_CONFIG_TARGETS:
        base_path = project.kernels / recipe.base_config
        base = {"file": recipe.base_config, "sha256": sha256_file(base_path)}
        files["base_config"] = base_path
    else:
        base = {"target": recipe.base_config}
    fragments = []
    for frag in recipe.fragments:
        path = project.kernels / "fragments" / frag
        fragments.append((frag, sha256_file(path)))
        files[f"fragment:{frag}"] = path
    patches = []
    for patch in recipe.patches:
        path = project.kernels / "patches" / patch
        patches.append((patch, sha256_file(path)))
        files[f"patch:{patch}"] = path
    return Inputs(
        name=name, source=source, base_config=base, fragments=tuple(fragments),
        patches=tuple(patches), compiler=compiler or compiler_version(), target=recipe.target,
        files=files,
    )


class _WorkTree:
    """The source and object folders of one tree key, and which patches are
    applied to the source now (state.json; "clean": false means a patch step
    was interrupted and the source must be extracted again)."""

    def __init__(self, root: Path):
        self.root = root
        self.src = root / "src"
        self.obj = root / "obj"
        self.applied_dir = root / "applied"
        self.state_file = root / "state.json"
        self.stamp = root / WORK_STAMP

    def state(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {"clean": False, "applied": []}

    def save(self, clean: bool, applied: list[tuple[str, str]]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"clean": clean, "applied": applied}))
        os.replace(tmp, self.state_file)


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
        self._steps: list[list[str]] = []

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

    def build(self, name: str) -> Kernel:
        start = time.monotonic()
        self.progress("inputs", name)
        inputs = self.inputs(name)
        hit = self.store.lookup(inputs.key)
        if hit:
            return Kernel(name, inputs.key, hit, True, time.monotonic() - start)
        tree = _WorkTree(self.root / "work" / inputs.tree_key)
        with locked(self.root / "work" / f"{inputs.tree_key}.lock"):
            hit = self.store.lookup(inputs.key)  # built meanwhile by another process
            if hit:
                return Kernel(name, inputs.key, hit, True, time.monotonic() - start)
            need = space.kernel_need((tree.src / "Makefile").is_file(), from_git=inputs.source["kind"] == "git")
            space.require(self.root, need, f"kernel {name}")
            return self._build_locked(inputs, tree, start)

    def _run(self, argv: list[str], *, log: Path, cwd: Path | None = None, on_line=None, timeout: float = 3600):
        self._steps.append(argv)
        return proc.run(argv, cwd=cwd, env=self._env(), log=log, on_line=on_line, timeout=timeout)

    def _build_locked(self, inputs: Inputs, tree: _WorkTree, start: float) -> Kernel:
        self._steps = []
        tree.root.mkdir(parents=True, exist_ok=True)
        tree.stamp.write_text(f"{inputs.name}\n")  # its last use and user, for `cache du` and `cache gc`
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{inputs.name}-{inputs.key}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.log"
        times: dict[str, float] = {}

        t = time.monotonic()
        reused = self._prepare(inputs, tree, log)
        times["prepare"] = time.monotonic() - t

        t = time.monotonic()
        switched = self._switch_patches(inputs, tree, log)
        times["patch"] = time.monotonic() - t

        t = time.monotonic()
        self._configure(inputs, tree, log)
        times["configure"] = time.monotonic() - t

        t = time.monotonic()
        self._compile(inputs, tree, log)
        times["build"] = time.monotonic() - t

        t = time.monotonic()
        with self.store.staging(inputs.key) as stage:
            self.progress("publish", inputs.key)
            shutil.copy2(tree.obj / BZIMAGE, stage / "bzImage")
            shutil.copy2(tree.obj / ".config", stage / "config")
            if (tree.src / KVM_STAT).is_file():
                shutil.copy2(tree.src / KVM_STAT, stage / "kvm_stat")
            shutil.copy2(log, stage / "build.log")
            times["publish"] = time.monotonic() - t
            times["total"] = time.monotonic() - start
            meta = self._metadata(inputs, stage, times, reused, switched)
            (stage / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
        return Kernel(inputs.name, inputs.key, self.store.entry(inputs.key), False, time.monotonic() - start)

    def _prepare(self, inputs: Inputs, tree: _WorkTree, log: Path) -> bool:
        """Extract the source unless a clean tree of this key is there."""
        state = tree.state()
        copies_ok = all(
            (tree.applied_dir / f"{i:04d}-{name}").is_file() for i, (name, _) in enumerate(state.get("applied", []))
        )
        if state.get("clean") and copies_ok and (tree.src / "Makefile").is_file():
            self.progress("prepare", f"reusing work tree {inputs.tree_key}")
            return True
        self.progress("prepare", "extracting the source")
        shutil.rmtree(tree.src, ignore_errors=True)
        shutil.rmtree(tree.applied_dir, ignore_errors=True)
        tree.src.mkdir(parents=True)
        tree.obj.mkdir(parents=True, exist_ok=True)
        source = inputs.files["source"]
        if inputs.source["kind"] == "git":
            archive = tree.root / "source.tar"
            self._run(["git", "-C", str(source), "archive", "--format=tar", "-o", str(archive), inputs.source["commit"]], log=log)
            self._run(["tar", "-xf", str(archive), "-C", str(tree.src)], log=log)
            archive.unlink()
        else:
            self._run(["tar", "-xf", str(source), "-C", str(tree.src), "--strip-components=1"], log=log)
        if not (tree.src / "Makefile").is_file():
            raise BuildError(f"{source} does not unpack to a kernel tree (no top-level Makefile)", log)
        tree.save(True, [])
        return False

    def _switch_patches(self, inputs: Inputs, tree: _WorkTree, log: Path) -> dict[str, list[str]]:
        """Revert what is applied beyond the common prefix, apply the rest."""
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
            copy = tree.applied_dir / f"{i:04d}-{name}"
            self._patch(["-R"], copy, name, tree, log)
            copy.unlink()
        for i, (name, _) in enumerate(apply, start=common):
            self.progress("patch", f"applying {name}")
            copy = tree.applied_dir / f"{i:04d}-{name}"
            shutil.copy2(inputs.files[f"patch:{name}"], copy)
            self._patch(["--forward"], copy, name, tree, log)
        tree.save(True, [list(p) for p in wanted])
        return {"reverted": [n for n, _ in revert], "applied": [n for n, _ in apply]}

    def _patch(self, flags: list[str], path: Path, name: str, tree: _WorkTree, log: Path) -> None:
        try:
            self._run(["patch", "-p1", "--batch", "--fuzz=0", *flags, "-i", str(path)], cwd=tree.src, log=log)
        except proc.CommandFailed as exc:
            raise PatchError(f"kernels/patches/{name} does not apply ({' '.join(flags)}):\n{exc.tail}") from None

    def _configure(self, inputs: Inputs, tree: _WorkTree, log: Path) -> None:
        self.progress("configure", "base config, fragments, olddefconfig")
        make = ["make", "-C", str(tree.src), f"O={tree.obj}", *self._make_vars()]
        if "file" in inputs.base_config:
            shutil.copy2(inputs.files["base_config"], tree.obj / ".config")
            self._run([*make, "olddefconfig"], log=log)
        else:
            self._run([*make, inputs.base_config["target"]], log=log)
        frags = [inputs.files[f"fragment:{n}"] for n, _ in inputs.fragments]
        if frags:
            merge = tree.src / "scripts" / "kconfig" / "merge_config.sh"
            self._run(
                ["sh", str(merge), "-m", "-O", str(tree.obj), str(tree.obj / ".config"), *map(str, frags)],
                cwd=tree.src, log=log,
            )
        self._run([*make, "olddefconfig"], log=log)
        lost = kconfig.dropped(
            (tree.obj / ".config").read_text(),
            {n: inputs.files[f"fragment:{n}"].read_text() for n, _ in inputs.fragments},
        )
        if lost:
            raise BuildError(
                f"{len(lost)} symbol(s) asked for by the fragments did not survive olddefconfig "
                "(missing dependencies?):\n" + "\n".join(f"  {d}" for d in lost),
                log,
            )

    def _compile(self, inputs: Inputs, tree: _WorkTree, log: Path) -> None:
        count = 0

        def on_line(line: str) -> None:
            nonlocal count
            stripped = line.strip()
            if stripped.startswith(("CC ", "AS ", "LD ", "AR ", "OBJCOPY ")):
                count += 1
                self.progress("build", f"{count} steps: {stripped}")

        argv = ["make", "-C", str(tree.src), f"O={tree.obj}", f"-j{self.jobs}", *self._make_vars(), inputs.target]
        try:
            self._run(argv, log=log, on_line=on_line)
        except proc.CommandFailed:
            raise BuildError(f"kernel {inputs.name}: make {inputs.target} failed", log, _compiler_errors(log)) from None
        if not (tree.obj / BZIMAGE).is_file():
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
            "reproduce": {
                "command": f"orchestrator build kernel {inputs.name}",
                "environment": {**KBUILD_ENV},
                "steps": [shlex.join(step) for step in self._steps],
            },
        }


def _compiler_errors(log: Path, limit: int = 30) -> str:
    """The lines of a failed build that say what failed."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    picked = [ln for ln in lines if "error:" in ln or "Error " in ln or ln.startswith("make") and "***" in ln]
    return "\n".join((picked or lines)[-limit:])
