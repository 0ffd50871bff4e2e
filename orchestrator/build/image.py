"""Build guest root filesystems from image recipes with mmdebstrap.

An image is an ext4 file system (booted as virtio-blk, root=/dev/vda) made
with `mke2fs -d` from a directory mmdebstrap wrote, plus our guest init,
the workload programs compiled static, and kvm_stat from a kernel source.
The cache key covers the recipe, the candidate versions of the packages
asked for, the init, the added files, the workload sources and kvm_stat.
No SSH key is ever baked in: the init takes per-run keys from fw_cfg.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from orchestrator import __version__, proc
from orchestrator.build import space
from orchestrator.build.cache import Entry, FileHashes, Store, key_of, locked, sha256_file
from orchestrator.config import load_image_recipe, load_kernel_recipe
from orchestrator.config.schema import ImageRecipe
from orchestrator.errors import InfraError, UserError
from orchestrator.paths import Project, cache_root

FORMAT = 1
ROOTFS = "rootfs.ext4"
INIT_DEST = "/sbin/orchestrator-init"
KVM_STAT_SRC = "tools/kvm/kvm_stat/kvm_stat"
# Documentation, manuals and locales are dead weight in a guest.
DPKG_EXCLUDES = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/info/*",
)

Progress = Callable[[str, str], None]


class ImageBuildError(InfraError):
    def __init__(self, step: str, message: str, log: Path | None = None):
        self.step = step
        self.log = log
        super().__init__(f"image build failed at step '{step}': {message}" + (f"\nfull log: {log}" if log else ""))


class Image(Entry):
    """A built root file system in the cache."""

    @property
    def rootfs(self) -> Path:
        return self.path / ROOTFS


def _tree_hash(folder: Path) -> str:
    """Hash of every file's path and content under `folder`."""
    parts = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if "out" in path.relative_to(folder).parts[:1]:
            continue  # local build output of the workloads Makefile
        parts.append((str(path.relative_to(folder)), sha256_file(path)))
    return key_of(parts)


def host_codename() -> str | None:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("VERSION_CODENAME="):
                return line.split("=", 1)[1].strip().strip('"') or None
    except OSError:
        pass
    return None


def host_sources() -> list[str]:
    """The host's own apt sources, so a local mirror or proxy carries over."""
    files = [Path("/etc/apt/sources.list")] + sorted(Path("/etc/apt/sources.list.d").glob("*"))
    return [str(f) for f in files if f.is_file() and f.suffix in (".list", ".sources") and f.stat().st_size > 0]


def package_versions(packages: tuple[str, ...]) -> dict[str, str]:
    """Candidate versions apt would install now; a new version means a new key."""
    if not packages:
        return {}
    out = proc.run(["apt-cache", "policy", *packages], timeout=120, check=False).output
    versions: dict[str, str] = {}
    current = None
    for line in out.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            current = line[:-1]
        elif current and line.strip().startswith("Candidate:"):
            versions[current] = line.split(":", 1)[1].strip()
    missing = [p for p in packages if versions.get(p) in (None, "(none)")]
    if missing:
        raise UserError(f"unknown Debian package(s): {', '.join(missing)} (is `apt-get update` done?)")
    return versions


class ImageBuilder:
    def __init__(self, project: Project, *, cache: Path | None = None, progress: Progress | None = None):
        self.project = project
        self.root = (cache or cache_root()) / "image"
        self.store = Store(self.root / "builds")
        self.hashes = FileHashes((cache or cache_root()) / "kernel" / "file-hashes.json")
        self.progress = progress or (lambda phase, detail: None)

    # -- decisions ---------------------------------------------------------

    def inputs(self, name: str) -> tuple[ImageRecipe, dict[str, Any]]:
        recipe = load_image_recipe(self.project, name)
        images = self.project.images
        inputs: dict[str, Any] = {
            "format": FORMAT,
            "recipe": recipe.model_dump(mode="json", exclude={"description"}),
            "packages": package_versions(recipe.packages),
            "init": sha256_file(images / recipe.init),
            "init_helpers": _tree_hash((images / recipe.init).parent),
            "files": {f.src: sha256_file(images / f.src) for f in recipe.files},
        }
        if recipe.workloads:
            inputs["workloads"] = _tree_hash(images / "workloads")
        if recipe.kvm_stat:
            inputs["kvm_stat"] = self._kvm_stat_source(recipe.kvm_stat)[1]
        return recipe, inputs

    def _kvm_stat_source(self, kernel: str) -> tuple[Path, str]:
        krecipe = load_kernel_recipe(self.project, kernel)
        if not krecipe.source.debian_package and not krecipe.source.tarball:
            raise UserError(f"kvm_stat: kernel recipe {kernel!r} must have a tarball source")
        tarball = (
            Path("/usr/src") / f"{krecipe.source.debian_package}.tar.xz"
            if krecipe.source.debian_package else self.project.kernels / str(krecipe.source.tarball)
        )
        if not tarball.is_file():
            raise UserError(f"{tarball} is missing (kernel recipe {kernel!r}; ./setup.sh installs the Debian kernel sources)")
        return tarball, self.hashes.get(tarball)

    def key(self, name: str) -> str:
        return key_of(self.inputs(name)[1])

    # -- work --------------------------------------------------------------

    def build(self, name: str) -> Image:
        start = time.monotonic()
        self.progress("inputs", name)
        recipe, inputs = self.inputs(name)
        key = key_of(inputs)
        hit = self.store.lookup(key)
        if hit:
            return Image(name, key, hit, True, time.monotonic() - start)
        with locked(self.root / f"{key}.lock"):
            hit = self.store.lookup(key)
            if hit:
                return Image(name, key, hit, True, time.monotonic() - start)
            space.require(self.store.root, space.IMAGE_BUILD_BYTES, f"image {name}")
            with self.store.staging(key) as stage:
                meta = self._build(name, recipe, inputs, key, stage, start)
                (stage / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
        return Image(name, key, self.store.entry(key), False, time.monotonic() - start)

    def _build(self, name: str, recipe: ImageRecipe, inputs: dict[str, Any], key: str, stage: Path, start: float) -> dict[str, Any]:
        log = stage / "build.log"
        work = stage / "work"
        rootdir = work / "root"
        work.mkdir()
        times: dict[str, float] = {}

        def step(label: str, fn: Callable[[], Any]) -> Any:
            self.progress(label, name)
            t = time.monotonic()
            try:
                return fn()
            except proc.CommandFailed as exc:
                raise ImageBuildError(label, exc.tail.strip().splitlines()[-1] if exc.tail.strip() else str(exc), self._keep_log(log, name)) from None
            except proc.CommandTimeout as exc:
                raise ImageBuildError(label, f"timed out after {exc.timeout:.0f}s", self._keep_log(log, name)) from None
            finally:
                times[label] = round(time.monotonic() - t, 3)

        step("mmdebstrap", lambda: self._debootstrap(recipe, rootdir, log))
        step("workloads", lambda: self._workloads(recipe, rootdir, work, log))
        step("files", lambda: self._files(recipe, rootdir, log))
        installed = step("manifest", lambda: self._installed(rootdir))
        size = step("mke2fs", lambda: self._mke2fs(rootdir, stage / ROOTFS, recipe, log))
        shutil.rmtree(work)
        times["total"] = round(time.monotonic() - start, 3)
        return {
            "kind": "image",
            "name": name,
            "key": key,
            "format": FORMAT,
            "tool_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "inputs": inputs,
            "installed_packages": installed,
            "rootfs": {"file": ROOTFS, "bytes": size, "sha256": sha256_file(stage / ROOTFS)},
            "durations_s": times,
            "reproduce": {"command": f"orchestrator build image {name}"},
        }

    def _keep_log(self, log: Path, name: str) -> Path | None:
        if not log.is_file():
            return None
        kept = self.root / "logs" / f"{name}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.log"
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(log, kept)
        return kept

    def _debootstrap(self, recipe: ImageRecipe, rootdir: Path, log: Path) -> None:
        argv = [
            "mmdebstrap", f"--variant={recipe.variant}", "--mode=root", "--format=directory",
            *[f"--dpkgopt={opt}" for opt in DPKG_EXCLUDES],
            # openssh-server's postinst makes host keys; they must not ship
            "--customize-hook=rm -f \"$1\"/etc/ssh/ssh_host_*",
        ]
        if recipe.packages:
            argv.append("--include=" + ",".join(recipe.packages))
        argv += [recipe.release, str(rootdir)]
        if recipe.release == host_codename():
            argv += host_sources()
        proc.run(argv, log=log, timeout=1800, on_line=lambda line: self.progress("mmdebstrap", line[-90:]))

    def _workloads(self, recipe: ImageRecipe, rootdir: Path, work: Path, log: Path) -> None:
        if not recipe.workloads:
            return
        out = work / "workloads"
        proc.run(["make", "-C", str(self.project.images / "workloads"), f"OUT={out}"], log=log, timeout=600)
        dest = rootdir / "usr/local/bin"
        dest.mkdir(parents=True, exist_ok=True)
        for prog in sorted(out.iterdir()):
            shutil.copy2(prog, dest / prog.name)
            os.chmod(dest / prog.name, 0o755)

    def _files(self, recipe: ImageRecipe, rootdir: Path, log: Path) -> None:
        images = self.project.images
        init = images / recipe.init
        for helper in sorted(init.parent.iterdir()):
            if helper.is_file():
                dest = rootdir / "sbin" / helper.name
                shutil.copy2(helper, dest)
                os.chmod(dest, 0o755)
        for f in recipe.files:
            dest = rootdir / f.dest.lstrip("/")
            if not dest.resolve().is_relative_to(rootdir.resolve()):
                raise UserError(f"image file destination escapes the root: {f.dest}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(images / f.src, dest)
            os.chmod(dest, int(f.mode, 8))
        if recipe.kvm_stat:
            tarball, _ = self._kvm_stat_source(recipe.kvm_stat)
            tmp = rootdir.parent / "kvm_stat_src"
            tmp.mkdir()
            proc.run(["tar", "-xf", str(tarball), "-C", str(tmp), "--wildcards", f"*/{KVM_STAT_SRC}"], log=log, timeout=600)
            found = list(tmp.glob(f"*/{KVM_STAT_SRC}"))
            if not found:
                raise ImageBuildError("files", f"{KVM_STAT_SRC} is not in {tarball}")
            dest = rootdir / "usr/local/bin/kvm_stat"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(found[0], dest)
            os.chmod(dest, 0o755)
            shutil.rmtree(tmp)
        if list((rootdir / "etc/ssh").glob("ssh_host_*")):
            raise ImageBuildError("files", "SSH host keys found in the image; they must come per run")

    def _installed(self, rootdir: Path) -> dict[str, str]:
        out = proc.run(
            ["dpkg-query", f"--admindir={rootdir / 'var/lib/dpkg'}", "-W", "-f", "${Package}\t${Version}\n"],
            timeout=120,
        ).output
        return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)

    def _mke2fs(self, rootdir: Path, image: Path, recipe: ImageRecipe, log: Path) -> int:
        used = int(proc.run(["du", "-s", "--block-size=1M", str(rootdir)], timeout=300).output.split()[0])
        size = recipe.size_mib or max(128, int(used * 1.3) + 64)
        if size < used:
            raise UserError(f"size_mib {size} is smaller than the content ({used} MiB)")
        proc.run(
            ["mke2fs", "-q", "-F", "-t", "ext4", "-L", "orch-root", "-d", str(rootdir), str(image), f"{size}M"],
            log=log, timeout=900,
        )
        return image.stat().st_size
