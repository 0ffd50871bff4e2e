"""Coverage kernels on the fake kernel tree: derived from the measured
recipes, instrumented where their patches change code, cached like any
kernel, and carrying what reading their counters needs."""

from __future__ import annotations

import json
import shutil

import pytest

from orchestrator.build.coverage import DIR, FRAGMENT, build_coverage, changed_files
from orchestrator.build.kernel import KernelBuilder
from orchestrator.collectors.gcov import parse
from orchestrator.errors import UserError
from orchestrator.coverage.tally import changed_against
from orchestrator.coverage.targets import instrument_patch, objects_for, touched_files
from tests.conftest import REPO
from tests.fakes.fake_kernel import make_project


@pytest.fixture
def project(tmp_path):
    p = make_project(tmp_path)
    shutil.copy(REPO / "kernels/fragments" / FRAGMENT, p.kernels / "fragments" / FRAGMENT)
    return p


def test_touched_files_in_order_without_dev_null():
    patch = "--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n--- a/y.h\n+++ /dev/null\n--- /dev/null\n+++ b/z.c\n"
    assert touched_files(patch) == ["x.c", "z.c"]


def test_headers_are_instrumented_through_their_includers(tmp_path):
    src = tmp_path / "src"
    (src / "arch/x86/kvm/mmu").mkdir(parents=True)
    (src / "arch/x86/kvm/Makefile").write_text("kvm-y += x86.o mmu/mmu.o\n")
    (src / "arch/x86/kvm/mmu/mmu.c").write_text('#include "mmu_internal.h"\n#include "paging_tmpl.h"\n')
    (src / "arch/x86/kvm/x86.c").write_text('#include "mmu/mmu_internal.h"\n')
    (src / "arch/x86/kvm/mmu/paging_tmpl.h").write_text("")
    assert objects_for(src, ["arch/x86/kvm/mmu/paging_tmpl.h"]) == ["arch/x86/kvm/mmu/mmu.o"]
    assert objects_for(src, ["arch/x86/kvm/mmu/mmu_internal.h"]) == ["arch/x86/kvm/mmu/mmu.o", "arch/x86/kvm/x86.o"]
    patch = instrument_patch(src, ["arch/x86/kvm/mmu/mmu.o", "arch/x86/kvm/x86.o"])
    assert "+++ b/arch/x86/kvm/Makefile\n@@ -0,0 +1,4 @@\n" in patch  # the Makefile that builds mmu/mmu.o
    assert "+GCOV_PROFILE_mmu.o := y\n+GCOV_PROFILE_x86.o := y\n" in patch


def test_coverage_kernels_instrument_the_changed_objects_only(project, tmp_path):
    options = {"cache": tmp_path / "cache", "jobs": 1, "use_ccache": False}
    built = build_coverage(project, {"a": "a", "ab": "ab"}, **options)
    measured = KernelBuilder(project, **options).inputs("ab")
    assert built["ab"].key != measured.key and not built["ab"].cached
    entry = built["ab"].path
    targets = json.loads((entry / DIR / "targets.json").read_text())
    assert targets["files"] == ["kvm.c"] and targets["objects"] == ["kvm.o"]
    assert (entry / DIR / "notes/kvm.gcno").is_file() and not (entry / DIR / "notes/other.gcno").exists()
    assert "return 2; } /* B */" in (entry / DIR / "src/kvm.c").read_text()
    # the instrumenting patch is kept with the others, for reproduce.sh
    assert any(p.name.endswith("gcov-instrument.patch") for p in (entry / "patches").iterdir())
    assert "gcov-instrument.patch" in (entry / "reproduce.sh").read_text()
    again = build_coverage(project, {"a": "a", "ab": "ab"}, **options)
    assert again["ab"].cached and again["ab"].key == built["ab"].key
    assert changed_against(entry, built["a"].path, ["kvm.c"]) == {"kvm.c": [1]}


def test_changed_files_cover_every_compared_kernel(project, tmp_path):
    builder = KernelBuilder(project, cache=tmp_path / "cache", use_ccache=False)
    assert changed_files([builder.inputs("plain"), builder.inputs("a")]) == ("kvm.c",)
    assert changed_files([builder.inputs("plain")]) == ()
    with pytest.raises(UserError, match="no patches"):
        build_coverage(project, {"plain": "plain"}, cache=tmp_path / "cache", use_ccache=False)


def test_gcov_transfer_is_checked():
    assert parse("== /a/b.gcda\nAAEC\n") == {"/a/b.gcda": "AAEC"}
    with pytest.raises(ValueError):
        parse("== /a/b.gcda\nnot base64!\n")
