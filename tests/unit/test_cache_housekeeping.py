"""`orchestrator cache du|verify|gc` on a fake cache, and the holds that
keep what a run or a build uses."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from orchestrator.build import cache, housekeeping as hk
from orchestrator.build.cache import Store, release_holds
from orchestrator.cli.main import main
from orchestrator.build.kernel import KernelBuilder
from orchestrator.errors import EXIT_INFRA, EXIT_USER

DAY = 86400
K_BASE, K_PATCHED, IMG, PAY, TREE = "aa" * 12, "bb" * 12, "cc" * 12, "dd" * 12, "ee" * 12


def _entry(root: Path, store: str, key: str, meta: dict, files: dict[str, bytes]) -> Path:
    st = Store(root / store / "builds")
    with st.staging(key) as stage:
        for name, data in files.items():
            (stage / name).write_bytes(data)
        (stage / "metadata.json").write_text(json.dumps({**meta, "key": key}))
    return st.entry(key)


def _age(path: Path, days: float) -> None:
    t = time.time() - days * DAY
    os.utime(path, (t, t))


@pytest.fixture
def fake(tmp_path: Path, monkeypatch) -> Path:
    """A cache with two kernels of one work tree, an image, an L2 disk, the
    work tree, a quarantined entry, a killed build's staging folder and
    ccache; the base kernel and the image unused for 40 days."""
    root = tmp_path / "cache"
    monkeypatch.setenv("ORCHESTRATOR_CACHE", str(root))
    kernel = {"kind": "kernel", "tree_key": TREE}
    _entry(root, "kernel", K_BASE, {**kernel, "name": "baseline", "inputs": {"patches": [{"name": "0001-rm.patch"}]}},
           {"bzImage": os.urandom(40_000)})
    _entry(root, "kernel", K_PATCHED, {**kernel, "name": "patched",
           "inputs": {"patches": [{"name": "0001-rm.patch"}, {"name": "0002-prefetch.patch"}]}}, {"bzImage": b"p" * 9000})
    _entry(root, "image", IMG, {"kind": "image", "name": "l1"}, {"rootfs.ext4": os.urandom(100_000)})
    _entry(root, "payload", PAY, {"kind": "payload", "image": IMG, "kernel": K_PATCHED}, {"payload.ext4": b"x" * 5000})
    release_holds()  # the builders above are done
    builds = root / "kernel" / "builds"
    (builds / f"{K_PATCHED}.corrupt-20250101T000000000000Z").mkdir()
    (builds / f"{K_PATCHED}.corrupt-20250101T000000000000Z" / "bzImage").write_bytes(b"z" * 70_000)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (builds / f".staging-{'ff' * 12}-{int(dead.stdout)}").mkdir()  # its builder was killed
    tree = root / "kernel" / "work" / TREE
    (tree / "obj").mkdir(parents=True)
    (tree / "obj" / "vmlinux.o").write_bytes(b"o" * 200_000)
    (root / "kernel" / "work" / f"{TREE}.lock").touch()
    (root / "image" / f"{IMG}.lock").touch()  # an image builder's lock: not worth a line
    (root / "ccache").mkdir()
    (root / "ccache" / "blob").write_bytes(b"c" * 30_000)
    for path in (builds / K_BASE, builds / ".holds" / K_BASE, root / "image/builds" / IMG,
                 root / "image/builds/.holds" / IMG, tree):
        _age(path, 40)
    return root


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _du(capsys) -> dict[str, str]:
    assert main(["cache", "du"]) == 0
    out = capsys.readouterr().out.splitlines()
    return {line.split()[0] + " " + line.split()[1]: line for line in out[1:]}


def test_du_lists_everything_with_human_names_sizes_and_last_use(fake: Path, capsys):
    rows = _du(capsys)
    assert "[0001-rm.patch, 0002-prefetch.patch]" in rows["kernel patched"] and K_PATCHED[:12] in rows["kernel patched"]
    assert "[0001-rm.patch]" in rows["kernel baseline"] and "(40 d ago)" in rows["kernel baseline"]
    assert IMG[:12] in rows["image l1"] and "(40 d ago)" in rows["image l1"]
    assert "image l1 + kernel patched" in rows["payload L2"]
    assert "kernels baseline, patched" in rows["work tree"] and "(40 d ago)" in rows["work tree"]
    assert "kernel patched" in rows["quarantined kernel"] and "2025-01-01" in rows["quarantined kernel"]
    assert "gone" in rows["building kernel"]
    assert "ccache" in rows["other ccache"] and not [r for r in rows if ".lock" in r]
    total = rows[f"total {fake}"]
    assert hk.disk_bytes(fake) - 100_000 <= sum(i.size for i in hk.scan(fake)) <= hk.disk_bytes(fake)
    assert "KiB" in total or "MiB" in total


def test_du_shows_what_is_in_use(fake: Path, capsys):
    assert Store(fake / "image" / "builds").lookup(IMG)
    assert "in use" in _du(capsys)["image l1"]
    release_holds()
    assert "in use" not in _du(capsys)["image l1"]


def test_verify_reports_damaged_files_and_exits_3(fake: Path, capsys):
    assert main(["cache", "verify"]) == 0
    assert "4 entries intact" in capsys.readouterr().out
    rootfs = fake / "image" / "builds" / IMG / "rootfs.ext4"
    stamp = rootfs.stat().st_mtime_ns
    rootfs.write_bytes(b"\0" * rootfs.stat().st_size)  # same size: only a re-hash sees it
    os.utime(rootfs, ns=(stamp, stamp))  # and the same mtime: bit rot a lookup trusts
    (fake / "kernel" / "builds" / K_BASE / "bzImage").unlink()
    before = _files(fake)
    assert main(["cache", "verify"]) == EXIT_INFRA
    out, err = capsys.readouterr()
    assert "rootfs.ext4 does not match its sha256" in out and "bzImage is missing" in out
    assert "2 of 4 cache entries damaged" in err and str(fake / "image" / "builds" / IMG) in err
    assert _files(fake) == before  # reported, not moved: verify writes nothing


def test_gc_dry_run_deletes_nothing(fake: Path, capsys):
    before = _files(fake)
    assert main(["cache", "gc", "--dry-run", "--work-trees"]) == 0
    out = capsys.readouterr().out
    assert _files(fake) == before
    would = [line for line in out.splitlines() if line.startswith("would remove")]
    assert len(would) == 5, out  # quarantined, killed build, old kernel, old image, old work tree
    assert "would free" in out and "KiB" in out.splitlines()[-1]


def test_gc_frees_quarantined_and_old_keeps_recent_and_work_trees(fake: Path, capsys):
    assert main(["cache", "gc"]) == 0
    out = capsys.readouterr().out
    left = {p.name for p in (fake / "kernel" / "builds").iterdir()}
    assert left == {K_PATCHED, ".holds"}, out  # quarantined, killed build, old baseline gone
    assert {p.name for p in (fake / "image" / "builds").iterdir()} == {".holds"}
    assert (fake / "payload" / "builds" / PAY).is_dir() and (fake / "ccache" / "blob").is_file()
    assert (fake / "kernel" / "work" / TREE).is_dir()  # only with --work-trees
    assert not (fake / "kernel" / "builds" / ".holds" / K_BASE).exists()
    assert out.splitlines()[-1].startswith("freed ")
    assert main(["cache", "gc", "--work-trees"]) == 0
    assert not (fake / "kernel" / "work" / TREE).exists() and (fake / "kernel" / "work" / f"{TREE}.lock").exists()
    assert not [p for p in fake.rglob(".deleting-*")]


def _holder(root: Path, key: str) -> subprocess.Popen:
    """Another process that looked `key` up and uses it (a run)."""
    code = ("import sys, time; from pathlib import Path; from orchestrator.build.cache import Store;"
            f"assert Store(Path({str(root / 'image' / 'builds')!r})).lookup({key!r}); print('held', flush=True);"
            "time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "held\n"
    return child


def test_gc_keeps_what_a_run_in_progress_holds(fake: Path, capsys):
    child = _holder(fake, IMG)
    try:
        _age(fake / "image/builds/.holds" / IMG, 40)  # used long ago, and still in use
        assert main(["cache", "gc", "--older-than", "0"]) == 0
        out = capsys.readouterr().out
        assert (fake / "image" / "builds" / IMG / "rootfs.ext4").is_file()
        assert any(line.startswith("kept, in use") and "image" in line for line in out.splitlines()), out
    finally:
        child.kill()
        child.wait()
    assert main(["cache", "gc", "--older-than", "0"]) == 0  # its run is over
    assert not (fake / "image" / "builds" / IMG).exists()


def test_gc_keeps_a_build_in_progress(fake: Path, monkeypatch):
    # even if its builder looked dead (a pid reused, a builder in another
    # pid namespace), a staging folder whose key is held is kept
    monkeypatch.setattr(hk, "pid_alive", lambda pid: False)
    st = Store(fake / "image" / "builds")
    with st.staging("99" * 12) as stage:  # our own live build
        (stage / "half").write_bytes(b"h" * 1000)
        with cache.locked(fake / "kernel" / "work" / f"{TREE}.lock"):  # and a kernel build on the work tree
            report = hk.gc(fake, hk.Policy(older_than_days=0, work_trees=True), dry_run=False)
            assert stage.is_dir() and (fake / "kernel" / "work" / TREE).is_dir()
        assert {TREE, "99" * 12} <= {i.key for i in report.kept}
        (stage / "metadata.json").write_text("{}")
    assert st.lookup("99" * 12)  # and it was published


def test_a_hold_waiting_on_a_removed_hold_file_locks_the_new_one(tmp_path: Path):
    path = tmp_path / ".holds" / "k"
    path.parent.mkdir()
    fd = cache.open_locked(path, fcntl.LOCK_EX)
    waiter = threading.Thread(target=cache.hold, args=(path,))
    waiter.start()
    time.sleep(0.2)  # the waiter has the old file open, blocked on its lock
    path.unlink()  # what gc does under the exclusive lock
    assert fd is not None
    os.close(fd)
    waiter.join(5)
    assert not waiter.is_alive()
    assert hk.is_held(path)  # the file at the path is the one held
    release_holds()
    assert not hk.is_held(path)


def test_a_hit_stamps_its_last_use_and_a_command_lets_go(fake: Path):
    hold = fake / "image" / "builds" / ".holds" / IMG
    assert hold.stat().st_mtime < time.time() - 39 * DAY
    assert Store(fake / "image" / "builds").lookup(IMG)
    assert hold.stat().st_mtime > time.time() - 60 and hk.is_held(hold)
    release_holds()
    with cache.holding():
        assert Store(fake / "image" / "builds").lookup(IMG)
        assert hk.is_held(hold)
    assert not hk.is_held(hold)


@pytest.mark.parametrize("bad", ["-1", "soon"])
def test_gc_refuses_bad_days(fake: Path, capsys, bad):
    with pytest.raises(SystemExit) as exc:
        main(["cache", "gc", "--older-than", bad])
    assert exc.value.code == EXIT_USER
    assert "--older-than" in capsys.readouterr().err


def test_cache_help_through_the_entry_point():
    r = subprocess.run([sys.executable, "-m", "orchestrator", "cache", "gc", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--work-trees" in r.stdout and "--dry-run" in r.stdout


def test_builds_stamp_their_work_tree(builder: KernelBuilder):  # noqa: F811
    builder.build("plain")
    (tree,) = [i for i in hk.scan(builder.root.parent) if i.kind == hk.WORK_TREE]
    assert tree.what == "kernels plain" and tree.last_use and tree.last_use > time.time() - 60
    for p in tree.stamps:
        _age(p, 40)
    builder.build("a")  # a variant on the same tree uses it again
    (tree,) = [i for i in hk.scan(builder.root.parent) if i.kind == hk.WORK_TREE]
    assert tree.what == "kernels a, plain" and tree.last_use and tree.last_use > time.time() - 60
    for entry in (builder.root / "builds").glob("*/"):
        if entry.name != ".holds":
            shutil.rmtree(entry)
    (tree,) = [i for i in hk.scan(builder.root.parent) if i.kind == hk.WORK_TREE]
    assert tree.what == "no kernel kept; last built a"
