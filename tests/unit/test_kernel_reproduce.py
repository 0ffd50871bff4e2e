"""reproduce.sh: every step from nothing, even for an entry that an
incremental build made, run in an empty folder against the fake kernel
tree (tests/data/fake-kernel), gives the same .config, sources and image."""

from __future__ import annotations

import filecmp
import os
import shlex
import subprocess
from pathlib import Path


from orchestrator.build import steps
from orchestrator.build.kernel import KernelBuilder
from tests.fakes.fake_kernel import PATCH_B




def _reproduce(entry: Path, folder: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBUILD_")}
    return subprocess.run(["sh", str(entry / "reproduce.sh"), str(folder)], env=env, capture_output=True,
                          text=True, timeout=120)


def test_incremental_entry_lists_every_step_from_nothing(builder: KernelBuilder):
    builder.build("plain")
    ab = builder.build("ab")
    meta = ab.metadata
    assert meta["reused_work_tree"]  # it ran no extraction and both patches only
    assert not any(cmd.startswith("tar ") for cmd in meta["reproduce"]["ran"])
    phases = [s["phase"] for s in meta["reproduce"]["steps"]]
    assert phases == ["check", "extract", "extract", "patch", "patch", "configure", "configure", "configure", "build"]
    patches = [s for s in meta["reproduce"]["steps"] if s["phase"] == "patch"]
    assert [p["cwd"] for p in patches] == ["${WORK}/src"] * 2
    assert [p["argv"][-1] for p in patches] == ["${ENTRY}/patches/0000-0001-a.patch", "${ENTRY}/patches/0001-0002-b.patch"]
    assert (ab.path / "patches/0001-0002-b.patch").read_text() == PATCH_B
    assert (ab.path / "fragments/f.config").is_file() and os.access(ab.reproducer, os.X_OK)


def test_reproduce_sh_of_an_incremental_entry_gives_the_same_kernel(builder: KernelBuilder, project, tmp_path):
    builder.build("a")
    ab = builder.build("ab")  # incremental: 0002-b applied on the tree of 'a'
    # the recipe's own files may change or go: the entry holds its copies
    (project.kernels / "patches/0002-b.patch").unlink()
    (project.kernels / "fragments/f.config").write_text("CONFIG_DEP=y\n")
    folder = tmp_path / "empty"  # (kbuild refuses blanks in O=; quoting: test_script_words_are_quoted)
    r = _reproduce(ab.path, folder)
    assert r.returncode == 0, r.stderr
    assert (folder / "obj/.config").read_text() == ab.config.read_text()
    tree = builder.root / "work" / ab.metadata["tree_key"] / "src"
    for name in ("kvm.c", "other.c", "Makefile"):
        assert filecmp.cmp(folder / "src" / name, tree / name, shallow=False), name
    assert "/* B */" in (folder / "src/kvm.c").read_text()
    assert (folder / f"obj/{steps.BZIMAGE}").read_bytes() == ab.bzimage.read_bytes()


def test_reproduce_sh_refuses_another_source(builder: KernelBuilder, project, tmp_path):
    kernel = builder.build("plain")
    with open(project.kernels / "fake.tar.gz", "ab") as f:
        f.write(b"\0")
    r = _reproduce(kernel.path, tmp_path / "out")
    assert r.returncode != 0 and not (tmp_path / "out/src/Makefile").exists()


def test_script_words_are_quoted():
    step = steps.Step("patch", ("patch", "-i", steps.Ref("input", "patches/0000-a's fix; rm -rf ~.patch"),
                                "$(reboot)"), steps.SRC)
    line = step.shell()
    assert line == ("(cd \"$WORK\"/src && patch -i \"$ENTRY\"'/patches/0000-a'\"'\"'s fix; rm -rf ~.patch' "
                    "'$(reboot)')")
    words = shlex.split(line[len('(cd "$WORK"/src && '):-1])
    assert words == ["patch", "-i", "$ENTRY/patches/0000-a's fix; rm -rf ~.patch", "$(reboot)"]
    assert steps.make(["CC=ccache gcc"], "olddefconfig").shell() == (
        "make -C \"$WORK\"/src O=\"$WORK\"/obj 'CC=ccache gcc' olddefconfig")


def test_reproduce_sh_of_a_git_source_takes_its_commit(project, tmp_path):
    from tests.fakes.fake_kernel import DATA

    repo = tmp_path / "linux"
    subprocess.run(["cp", "-r", str(DATA / "fake-kernel"), str(repo)], check=True)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "v1"]):
        subprocess.run([*git, *argv], check=True)
    (project.kernels / "fromgit.yaml").write_text(
        f"source: {{git: {repo}}}\nbase_config: tinyconfig\nfragments: [f.config]\npatches: [0001-a.patch]\n")
    kernel = KernelBuilder(project, cache=tmp_path / "cache", jobs=1, use_ccache=False).build("fromgit")
    (repo / "kvm.c").write_text("int kvm(void) { return 9; }\n")  # the working tree moves on; the commit stays
    r = _reproduce(kernel.path, tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out/obj/.config").read_text() == kernel.config.read_text()
    assert (tmp_path / f"out/obj/{steps.BZIMAGE}").read_bytes() == kernel.bzimage.read_bytes()
    assert not (tmp_path / "out/source.tar").exists()
