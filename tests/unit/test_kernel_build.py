"""The kernel build layer against a fake kernel tree (tests/data/fake-kernel):
cache keys, hits, patch switching, the dropped-symbol check, failures and
interruptions. The real 6.1 build is exercised by the qemu tier and bench/."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.build.cache import FileHashes
from orchestrator.build.kernel import BuildError, KernelBuilder, PatchError, resolve
from orchestrator.paths import Project
from tests.fakes.fake_kernel import DATA, PATCH_A
from tests.fakes.fake_kernel import recipe as _recipe



def _compiles(builder: KernelBuilder, name: str) -> list[str]:
    tree = builder.root / "work" / builder.inputs(name).tree_key / "obj" / "compile-log"
    return tree.read_text().split()


def test_build_then_hit(builder: KernelBuilder):
    first = builder.build("plain")
    assert not first.cached and first.bzimage.is_file() and first.kvm_stat.is_file()
    meta = first.metadata
    for key in ("inputs", "compiler", "durations_s", "reproduce", "artifacts", "config_file"):
        assert key in meta
    assert meta["inputs"]["source"]["kind"] == "tarball"
    assert "CONFIG_KVM=y" in first.config.read_text()
    assert any("tinyconfig" in step["argv"] for step in meta["reproduce"]["steps"])
    second = builder.build("plain")
    assert second.cached and second.path == first.path and second.key == first.key


def test_variant_by_patches_reuses_objects(builder: KernelBuilder):
    builder.build("plain")
    assert sorted(_compiles(builder, "plain")) == ["kvm.o", "other.o"]
    a = builder.build("a")
    assert a.metadata["reused_work_tree"] and a.metadata["patches_switched"]["applied"] == ["0001-a.patch"]
    assert _compiles(builder, "a") == ["kvm.o", "other.o", "kvm.o"]  # only the touched file
    assert b"/* A */" in a.bzimage.read_bytes()
    ab = builder.build("ab")
    assert ab.metadata["patches_switched"] == {"reverted": [], "applied": ["0002-b.patch"]}
    assert b"/* B */" in ab.bzimage.read_bytes()
    # back to no patches: both reverted, and a cache hit for the old entry afterwards
    assert builder.build("plain").cached
    other = builder.build("a")
    assert other.cached


def test_cache_key_changes_with_every_input(project: Project, tmp_path: Path):
    hashes = FileHashes(tmp_path / "h.json")

    def key(name="a", compiler="gcc 12"):
        inp = resolve(project, name, hashes, compiler=compiler)
        return inp.key, inp.tree_key

    base_key, base_tree = key()
    seen = {base_key}
    # a patch's content: new key, same tree
    p = project.kernels / "patches/0001-a.patch"
    p.write_text(PATCH_A + "\n")
    k, t = key()
    assert k not in seen and t == base_tree
    seen.add(k)
    # the series
    k, t = key("ab")
    assert k not in seen and t == base_tree
    seen.add(k)
    # the compiler
    k, t = key(compiler="gcc 13")
    assert k not in seen and t != base_tree
    seen.add(k)
    # a fragment's content
    (project.kernels / "fragments/f.config").write_text("CONFIG_KVM=y\nCONFIG_X=y\n")
    k, t = key()
    assert k not in seen and t != base_tree
    seen.add(k)
    # the base config
    _recipe(project.root, "a", ["0001-a.patch"], base="defconfig")
    k, _ = key()
    assert k not in seen
    seen.add(k)
    # the source
    with open(project.kernels / "fake.tar.gz", "ab") as f:
        f.write(b"\0")
    k, _ = key()
    assert k not in seen


def test_dropped_symbol_fails_and_names_it(builder: KernelBuilder, project: Project):
    (project.kernels / "fragments/f.config").write_text("CONFIG_KVM=y\nCONFIG_NEEDS_DEP=y\n")
    with pytest.raises(BuildError) as exc:
        builder.build("plain")
    assert "CONFIG_NEEDS_DEP" in str(exc.value) and "f.config" in str(exc.value)
    assert not list((builder.root / "builds").glob("*/metadata.json"))
    # with its dependency it survives
    (project.kernels / "fragments/f.config").write_text("CONFIG_KVM=y\nCONFIG_DEP=y\nCONFIG_NEEDS_DEP=y\n")
    assert builder.build("plain").bzimage.is_file()


def test_compile_error_shows_compiler_error_and_log(builder: KernelBuilder, project: Project):
    _recipe(project.root, "broken", ["0003-broken.patch"])
    with pytest.raises(BuildError) as exc:
        builder.build("broken")
    assert "error: #error found" in str(exc.value)
    assert exc.value.log and exc.value.log.is_file()
    assert exc.value.exit_code == 3
    assert not list((builder.root / "builds").glob("*/metadata.json"))
    assert builder.build("a").bzimage.is_file()  # the tree recovers


def test_patch_that_does_not_apply_is_a_user_error(builder: KernelBuilder, project: Project):
    _recipe(project.root, "bonly", ["0002-b.patch"])
    with pytest.raises(PatchError) as exc:
        builder.build("bonly")
    assert "0002-b.patch" in str(exc.value) and exc.value.exit_code == 2
    assert builder.build("ab").bzimage.is_file()  # the half-patched tree was thrown away


def _child_build(project: Project, cache: Path) -> subprocess.Popen:
    code = (
        "import sys; from pathlib import Path;"
        "from orchestrator.build.kernel import KernelBuilder; from orchestrator.paths import Project;"
        f"KernelBuilder(Project(Path({str(project.root)!r})), cache=Path({str(cache)!r}), jobs=1,"
        " use_ccache=False, progress=lambda p, d: print(p, flush=True)).build('a')"
    )
    env = {**os.environ, "FAKE_BUILD_SLEEP": "60"}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_build_leaves_no_entry(project: Project, tmp_path: Path, sig):
    cache = tmp_path / "cache"
    child = _child_build(project, cache)
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith("build"):
            break
    time.sleep(1.0)  # inside the slow link step
    child.send_signal(sig)
    child.wait(timeout=30)
    time.sleep(0.5)
    builds = cache / "kernel" / "builds"
    assert not list(builds.glob("*/metadata.json"))
    left = _procs_under(tmp_path)
    if sig == signal.SIGINT:
        assert not left  # Ctrl-C stops the whole process group
    else:
        # SIGKILL cannot be caught: make dies with its parent (PDEATHSIG);
        # only its own children can linger, never make itself
        assert not [cmd for _, cmd in left if cmd.startswith("make")]
        for pid, _ in left:
            os.kill(pid, signal.SIGKILL)
    # and the next build completes and is a proper entry
    builder = KernelBuilder(project, cache=cache, jobs=1, use_ccache=False)
    kernel = builder.build("a")
    assert not kernel.cached and kernel.bzimage.is_file()
    assert not list(builds.glob(".staging-*"))


def _procs_under(path: Path) -> list[tuple[int, str]]:
    """Processes whose working folder is inside `path`."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd.startswith(str(path)):
            out.append((int(entry.name), cmd))
    return out


def test_corrupted_entry_is_not_a_hit(builder: KernelBuilder):
    k = builder.build("plain")
    (k.path / "metadata.json").unlink()
    again = builder.build("plain")
    assert not again.cached and (again.path / "metadata.json").is_file()
    json.loads((again.path / "metadata.json").read_text())
    shutil.rmtree(again.path)
    assert not builder.build("plain").cached


def test_git_source_at_a_ref(project: Project, tmp_path: Path):
    repo = tmp_path / "linux"
    shutil.copytree(DATA / "fake-kernel", repo)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "v1"], check=True)
    subprocess.run([*git, "tag", "v1"], check=True)
    (repo / "kvm.c").write_text("int kvm(void) { return 9; } /* after v1 */\n")
    subprocess.run([*git, "commit", "-q", "-am", "v2"], check=True)
    (project.kernels / "fromgit.yaml").write_text(
        f"source: {{git: {repo}, ref: v1}}\nbase_config: tinyconfig\nfragments: [f.config]\n")
    builder = KernelBuilder(project, cache=tmp_path / "cache", jobs=1, use_ccache=False)
    k = builder.build("fromgit")
    assert k.metadata["inputs"]["source"]["kind"] == "git"
    assert b"after v1" not in k.bzimage.read_bytes()  # the ref, not the working tree
    assert builder.build("fromgit").cached
