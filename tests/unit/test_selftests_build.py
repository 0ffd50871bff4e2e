"""The KVM selftests' build against the fake kernel tree: built from the
kernel's own tree with its patches, a test that does not build kept with
its error, cached by the kernel's key."""

from __future__ import annotations

from pathlib import Path

from orchestrator.build import selftests
from orchestrator.build.housekeeping import names
from orchestrator.build.kernel import KernelBuilder
from orchestrator.build.selftests import Commands, SelftestBuilder, compiler_errors, name_of
from orchestrator.build.worktree import WorkTree


def test_builds_what_builds_and_keeps_the_error_of_the_rest(builder: KernelBuilder):
    st = SelftestBuilder(builder).build("plain")
    assert not st.cached
    assert st.built == {"good_test": "x86_64/good_test"}
    assert st.program("good_test").is_file()
    assert "#error found" in st.failed["broken_test"] and str(builder.root) not in st.failed["broken_test"]
    meta = st.metadata
    assert meta["kernel_key"] == builder.inputs("plain").key and meta["failed"] == ["broken_test"]
    again = SelftestBuilder(builder).build("plain")
    assert again.cached and again.path == st.path
    # a store of the cache's own, which `cache du` names
    assert st.path.parent == builder.root.parent / "selftests" / "builds"
    assert names(builder.root.parent)[st.key] == "KVM selftests of plain"


def test_keyed_by_the_kernel(builder: KernelBuilder):
    sb = SelftestBuilder(builder)
    plain, patched = sb.build("plain"), sb.build("a")
    assert plain.key != patched.key
    assert plain.key == selftests.key(builder.inputs("plain").key)
    # the patched variant's tree was checked out for it: its patch is applied
    state = WorkTree(builder.root / "work" / builder.inputs("a").tree_key).state()
    assert [n for n, _ in state["applied"]] == ["0001-a.patch"]
    assert sb.lookup("plain") is not None


def test_commands_are_argv_lists(tmp_path: Path):
    cmds = Commands(WorkTree(tmp_path / "w"), tmp_path / "out", ("CC=gcc",), 2)
    build = cmds.build_all()
    assert build[:3] == ["make", "-C", str(tmp_path / "w" / "src" / selftests.SUITE)]
    assert "-k" in build and "-j2" in build and selftests.LDFLAGS in build
    assert f"OUTPUT={tmp_path / 'out'}" in build
    assert cmds.headers_target()[-1] == "headers"
    assert any(a.startswith("--eval=") for a in cmds.list_programs())


def test_names_and_errors():
    assert name_of("/x/selftests/x86_64/smm_test") == "smm_test"
    out = "gcc -c a.c\na.c:3: error: nope\nnoise\nld: undefined reference to `f'\n"
    assert compiler_errors(out) == "a.c:3: error: nope\nld: undefined reference to `f'"
    assert compiler_errors("just this") == "just this"


def test_cache_du_and_verify_list_them(builder: KernelBuilder, monkeypatch, capsys):
    from orchestrator.cli.main import main

    st = SelftestBuilder(builder).build("plain")
    monkeypatch.setenv("ORCHESTRATOR_CACHE", str(builder.root.parent))
    monkeypatch.setenv("COLUMNS", "300")
    assert main(["cache", "du"]) == 0
    assert "KVM selftests of plain" in capsys.readouterr().out
    assert main(["cache", "verify"]) == 0
    assert st.key[:12] in capsys.readouterr().out
