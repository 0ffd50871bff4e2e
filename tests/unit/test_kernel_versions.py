"""One fragment for every kernel version: a symbol the tree's Kconfig does
not define is reported and skipped, one it defines but that olddefconfig
dropped is still an error (the fake tree's Kconfig: tests/data/fake-kernel)."""

from __future__ import annotations

import logging

import pytest

from orchestrator.build import kconfig
from orchestrator.build.kernel import BuildError
from orchestrator.paths import Project
from tests.fakes.fake_kernel import DATA, recipe




def _fragment(project: Project, text: str) -> None:
    (project.kernels / "fragments/f.config").write_text(text)


def test_defined_symbols_reads_kconfig_files_of_x86_only():
    symbols = kconfig.defined_symbols(DATA / "fake-kernel")
    assert {"64BIT", "KVM", "DEP", "NEEDS_DEP", "X86_ONLY"} <= symbols  # menuconfig and arch/x86 too
    assert "ARM64_ONLY" not in symbols  # another architecture's Kconfig


def test_undefined_symbol_is_reported_recorded_and_skipped(builder, project, caplog):
    # gone in this version (as RANDOM_TRUST_CPU after 6.1), and defined only for arm64
    _fragment(project, "CONFIG_KVM=y\nCONFIG_RANDOM_TRUST_CPU=y\nCONFIG_ARM64_ONLY=y\n# CONFIG_GONE is not set\n")
    with caplog.at_level(logging.WARNING, logger="orchestrator.build.kernel"):
        kernel = builder.build("plain")
    undefined = kernel.metadata["fragment_symbols_undefined"]
    assert [u.split(":")[0] for u in undefined] == ["CONFIG_RANDOM_TRUST_CPU", "CONFIG_ARM64_ONLY"]
    assert "f.config" in undefined[0]
    assert "CONFIG_RANDOM_TRUST_CPU" in caplog.text and "not defined" in caplog.text
    assert "CONFIG_KVM=y" in kernel.config.read_text()


def test_defined_but_dropped_is_still_an_error(builder, project):
    # X86_ONLY is defined (arch/x86/Kconfig) but depends on DEP
    _fragment(project, "CONFIG_KVM=y\nCONFIG_RANDOM_TRUST_CPU=y\nCONFIG_X86_ONLY=y\n")
    with pytest.raises(BuildError) as exc:
        builder.build("plain")
    assert "CONFIG_X86_ONLY" in str(exc.value) and "did not survive olddefconfig" in str(exc.value)
    assert "RANDOM_TRUST_CPU" not in str(exc.value)
    assert not list((builder.root / "builds").glob("*/metadata.json"))


def test_nothing_dropped_means_no_kconfig_scan(builder, project, monkeypatch):
    def no_scan(src):
        raise AssertionError("scanned the tree although nothing was dropped")

    monkeypatch.setattr(kconfig, "defined_symbols", no_scan)
    assert builder.build("a").bzimage.is_file()


def test_symbols_are_scanned_once_per_tree_state(builder, project, monkeypatch):
    """Cached in the work tree for as long as the same patches are applied:
    a patch may define a symbol."""
    scans = []
    real = kconfig.defined_symbols
    monkeypatch.setattr(kconfig, "defined_symbols", lambda src: scans.append(src) or real(src))
    (project.kernels / "patches/0005-newsym.patch").write_text(
        "--- a/Kconfig\n+++ b/Kconfig\n@@ -15 +15,4 @@\n source \"arch/x86/Kconfig\"\n"
        "+\n+config NEWSYM\n+\tdepends on DEP\n")
    recipe(project.root, "newsym", ["0005-newsym.patch"])
    _fragment(project, "CONFIG_KVM=y\nCONFIG_GONE=y\nCONFIG_NEWSYM=y\n")
    first = builder.build("plain")
    assert len(scans) == 1 and "CONFIG_NEWSYM" in first.metadata["fragment_symbols_undefined"][1]
    _fragment(project, "CONFIG_KVM=y\nCONFIG_GONE=y\nCONFIG_NEWSYM=y\n# another tree key, same source\n")
    builder.build("plain")
    assert len(scans) == 2  # a new work tree
    _fragment(project, "CONFIG_KVM=y\nCONFIG_GONE=y\nCONFIG_NEWSYM=y\n")
    (builder.store.entry(first.key) / "metadata.json").unlink()  # build it again in the same tree
    builder.build("plain")
    assert len(scans) == 2  # same tree, same patches: the memo
    with pytest.raises(BuildError) as exc:  # the patch defines NEWSYM, whose DEP is off
        builder.build("newsym")
    assert "CONFIG_NEWSYM" in str(exc.value) and len(scans) == 3


def test_check_splits_lost_from_undefined():
    final = "CONFIG_A=y\n"
    frags = {"x.config": "CONFIG_A=y\nCONFIG_B=y\nCONFIG_C=m\n"}
    checked = kconfig.check(final, frags, lambda: frozenset({"A", "B"}))
    assert [d.symbol for d in checked.lost] == ["CONFIG_B"]
    assert [d.symbol for d in checked.undefined] == ["CONFIG_C"]
    assert kconfig.check("CONFIG_A=y\n", {"x": "CONFIG_A=y\n"}, lambda: 1 / 0) == kconfig.Checked()
