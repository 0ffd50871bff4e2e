"""`orchestrator ab`: series from files, mboxes and git ranges, the recipes
and experiment it writes, --save, and its argument errors (nothing built)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from orchestrator import proc
from orchestrator.ab import recipes, series
from orchestrator.build.patches import describe, split_mbox
from orchestrator.cli import ab
from orchestrator.cli.main import build_parser, main
from orchestrator.config import load_experiment
from orchestrator.errors import UserError
from orchestrator.paths import Project

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "ab"
MBOX = DATA / "series-3.mbox"
SUBJECTS = ["KVM: x86/mmu: first",
            "KVM: x86/mmu: second, with a subject long enough to be folded onto a second header line",
            "KVM: x86/mmu: third"]


def test_mbox_is_split_in_order_with_subjects_and_authors_and_no_cover_letter():
    patches = split_mbox(MBOX)
    assert [p.subject for p in patches] == SUBJECTS
    assert [p.author for p in patches] == ["Grace Maintainer <grace@example.org>",
                                           "René Réviseur <rene@example.org>", "Grace Maintainer <grace@example.org>"]
    assert patches[0].text.startswith(b"From 1111") and b"+int a = 2;" in patches[0].text
    assert b"+int c = 2;" in patches[2].text and b"int b" not in patches[2].text


def test_an_mbox_without_a_patch_is_refused():
    with pytest.raises(UserError, match="no-patch.mbox: no patch in it"):
        split_mbox(DATA / "no-patch.mbox")


def test_the_projects_patches_are_named_by_their_headers():
    info = describe(ROOT / "kernels/patches/0002-KVM-MMU-prefetch-ptes-when-intercepted-guest-PF.patch")
    assert info.subject == "KVM: MMU: prefetch ptes when intercepted guest #PF"
    assert info.author == "Xiao Guangrong <xiaoguangrong@cn.fujitsu.com>" and len(info.sha256) == 64


def test_a_plain_diff_names_nothing(tmp_path):
    plain = tmp_path / "fix.diff"
    plain.write_text("--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n")
    info = describe(plain)
    assert (info.file, info.subject, info.author) == ("fix.diff", "", "")


def _args(*argv: str):
    return build_parser().parse_args(["ab", *argv])


def _prepare(tmp_path, *argv: str):
    results = tmp_path / "results"
    return ab.prepare(_args(*argv, "--results", str(results)), Project(ROOT), results)


def test_run_folder_holds_loadable_recipes_and_the_patches(tmp_path):
    loaded, run = _prepare(tmp_path, str(MBOX))
    folder = run.folder / "ab"
    assert sorted(p.name for p in (folder / "patches").iterdir()) == [
        "0001-KVM-x86-mmu-first.patch",
        "0002-KVM-x86-mmu-second-with-a-subject-long-enough-to-be.patch",
        "0003-KVM-x86-mmu-third.patch"]
    a = yaml.safe_load((folder / "kernels/a.yaml").read_text())
    b = yaml.safe_load((folder / "kernels/b.yaml").read_text())
    assert a["patches"] == [] and a["source"] == {"debian_package": "linux-source-6.1"}
    assert b["patches"] == [f"../patches/{n}" for n in sorted(p.name for p in (folder / "patches").iterdir())]
    assert {k: v.recipe for k, v in loaded.experiment.kernels.items()} == {
        "a": str(folder / "kernels/a.yaml"), "b": str(folder / "kernels/b.yaml")}
    assert loaded.experiment.matrix.tdp == ("on", "off") and loaded.experiment.repetitions == 3
    assert set(loaded.experiment.matrix.workload) == {"file-mmap", "exec-storm", "anon-touch", "fork-read"}
    # reproducible from the folder alone: the experiment loads again from it
    again = load_experiment(folder / "ab.yaml", Project(ROOT))
    assert again.kernels[str(folder / "kernels/b.yaml")].patches == loaded.kernels[str(folder / "kernels/b.yaml")].patches


def test_a_base_with_patches_keeps_them_in_a_and_b(tmp_path):
    loaded, run = _prepare(tmp_path, "--base", "baseline", str(DATA / "0003-KVM-MMU-say-which-paging-modes-mmu.c-serves.patch"))
    b = yaml.safe_load((run.folder / "ab/kernels/b.yaml").read_text())
    assert b["patches"] == ["../patches/base/0001-0001-KVM-MMU-remove-pte-prefetch.patch",
                            "../patches/0001-KVM-MMU-say-which-paging-modes-mmu.c-serves.patch"]


def test_source_package_uses_the_base_of_its_version(tmp_path):
    if not Path("/usr/src/linux-source-6.12.tar.xz").is_file():
        pytest.skip("linux-source-6.12 is not installed")
    _, run = _prepare(tmp_path, "--source", "linux-source-6.12", str(MBOX))
    a = yaml.safe_load((run.folder / "ab/kernels/a.yaml").read_text())
    assert a["source"] == {"debian_package": "linux-source-6.12"} and a["fragments"] == ["l1-host.config"]


def _project_copy(tmp_path) -> Path:
    root = tmp_path / "project"
    for sub in ("kernels", "images", "configs"):
        shutil.copytree(ROOT / sub, root / sub)
    return root


def test_save_writes_a_config_run_can_load_and_refuses_to_overwrite(tmp_path, monkeypatch):
    root = _project_copy(tmp_path)
    monkeypatch.chdir(root)
    results = tmp_path / "results"
    ab.prepare(_args(str(MBOX), "--save", "mine", "--results", str(results)), Project(root), results)
    saved = load_experiment(root / "configs/mine.yaml")
    assert {k: v.recipe for k, v in saved.experiment.kernels.items()} == {"a": "mine-a", "b": "mine-b"}
    assert [Path(p).name for p in saved.kernels["mine-b"].patches][-1] == "0003-KVM-x86-mmu-third.patch"
    assert (root / "kernels/patches/mine").is_dir()
    with pytest.raises(UserError, match="--save mine: would overwrite .*mine-a.yaml"):
        ab.prepare(_args(str(MBOX), "--save", "mine", "--results", str(results)), Project(root), results)


@pytest.mark.parametrize("argv, message", [
    (["missing.patch"], "patch .*missing.patch: file not found"),
    ([str(DATA / "no-patch.mbox")], "no-patch.mbox: no patch in it"),
    (["--dirty", str(MBOX)], "--dirty needs --tree DIR"),
    (["--range", "a..b"], "--range needs --tree DIR"),
    (["--tree", str(ROOT), "--range", "nodots"], "--range 'nodots': give BASE..TIP"),
    (["--tree", str(ROOT), "--range=--output=x..HEAD"], "not a git ref"),
    ([], "no patches"),
    (["--base", "nosuch", str(MBOX)], "--base nosuch: no kernel recipe"),
    (["--source", "linux-source-9.99", str(MBOX)], "linux-source-9.99.tar.xz is missing"),
    (["--save", "mine", "--config", "configs/nope.yaml", str(MBOX)], "configs/nope.yaml"),
])
def test_bad_input_is_exit_2_naming_the_culprit(argv, message, tmp_path, capsys):
    assert main(["ab", *argv, "--results", str(tmp_path / "r")]) == 2
    import re
    assert re.search(message, capsys.readouterr().err.replace("\n", "")), message
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())  # no run folder left


def test_two_bases_are_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["ab", "--base", "upstream", "--source", "linux-source-6.1", str(MBOX)])
    assert exc.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "Tree Author", "GIT_AUTHOR_EMAIL": "tree@example.org",
           "GIT_COMMITTER_NAME": "c", "GIT_COMMITTER_EMAIL": "c@example.org"}
    return proc.run(["git", "-C", str(repo), *args], env=env, timeout=60).output


@pytest.fixture()
def tree(tmp_path) -> Path:
    repo = tmp_path / "linux"
    shutil.copytree(ROOT / "tests/data/fake-kernel", repo)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    _git(repo, "tag", "base")
    for i in (1, 2):
        (repo / f"note{i}.txt").write_text(f"change {i}\n")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", f"KVM: x86/mmu: change {i}")
    return repo


def test_a_tree_range_becomes_the_series_and_its_base_is_a(tree, tmp_path):
    patches = series.from_range(tree, "base..HEAD")
    assert [p.subject for p in patches] == ["KVM: x86/mmu: change 1", "KVM: x86/mmu: change 2"]
    assert {p.author for p in patches} == {"Tree Author <tree@example.org>"}
    base = recipes.base_from_tree(Project(ROOT), tree, "base")
    assert base.doc["source"] == {"git": str(tree), "ref": _git(tree, "rev-parse", "base").strip()}


def test_dirty_adds_the_work_tree_as_a_last_patch(tree, tmp_path):
    (tree / "note1.txt").write_text("changed again\n")
    _, run = _prepare(tmp_path, "--tree", str(tree), "--range", "base..HEAD", "--dirty")
    names = sorted(p.name for p in (run.folder / "ab/patches").iterdir())
    assert names == ["0001-KVM-x86-mmu-change-1.patch", "0002-KVM-x86-mmu-change-2.patch",
                     "0003-uncommitted-changes-git-diff-HEAD.patch"]
    assert "+changed again" in (run.folder / "ab/patches" / names[2]).read_text()
    # named by its subject, as the manifest and reports will show it
    assert describe(run.folder / "ab/patches" / names[2]).subject == "uncommitted changes (git diff HEAD)"


def test_an_empty_or_unknown_range_is_refused(tree):
    with pytest.raises(UserError, match="no commits between HEAD and HEAD"):
        series.from_range(tree, "HEAD..HEAD")
    with pytest.raises(UserError, match="--range base..nosuch"):
        series.from_range(tree, "base..nosuch")


def test_an_unknown_user_in_a_patch_path_is_named(tmp_path):
    from orchestrator.ab.series import from_files
    with pytest.raises(UserError, match="no such user '~nosuchuser-orch'"):
        from_files(["~nosuchuser-orch/fix.patch"], tmp_path)
