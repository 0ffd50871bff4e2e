"""From a patch to the code it changes and how often that code ran: the
changed lines of the real prefetch patch, their functions in the real 6.1
sources (Debian's tarball), and real gcov counts of a small C file built
with the host's gcc."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestrator import proc
from orchestrator.coverage.changes import changed_lines
from orchestrator.coverage.functions import enclosing, functions
from orchestrator.coverage.gcov import by_function, changed_runs, counts_for, line_counts
from tests.conftest import REPO

PREFETCH = REPO / "kernels/patches/0002-KVM-MMU-prefetch-ptes-when-intercepted-guest-PF.patch"
REMOVE = REPO / "kernels/patches/0001-KVM-MMU-remove-pte-prefetch.patch"
TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")


def test_changed_lines_are_on_the_new_side():
    patch = """\
--- a/f.c
+++ b/f.c
@@ -1,5 +1,5 @@
 int a;
-int b;
+int bb;
 int c;
-int d;
 int e;
@@ -20,2 +19,3 @@
 int x;
+int y;
 int z;
"""
    assert changed_lines(patch) == {"f.c": [2, 4, 20]}  # bb; the line after the removed d; y


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """6.1's KVM MMU sources with the two prefetch patches applied."""
    if not TARBALL.is_file():
        pytest.fail(f"{TARBALL} is missing: run ./setup.sh")
    where = tmp_path_factory.mktemp("src")
    proc.run(["tar", "-xf", str(TARBALL), "-C", str(where), "--wildcards", "linux-source-6.1/arch/x86/kvm/mmu/*"],
             timeout=300)
    root = where / "linux-source-6.1"
    for patch in (REMOVE, PREFETCH):
        proc.run(["patch", "-p1", "-i", str(patch)], cwd=root, timeout=60)
    return root


def test_the_prefetch_patch_changes_pte_prefetch_and_direct_prefetch(tree):
    changed = changed_lines(PREFETCH.read_text())
    assert set(changed) == {"arch/x86/kvm/mmu/mmu.c", "arch/x86/kvm/mmu/paging_tmpl.h"}
    names = {f: {enclosing(functions((tree / f).read_text()), line) for line in lines} for f, lines in changed.items()}
    assert "FNAME(pte_prefetch)" in names["arch/x86/kvm/mmu/paging_tmpl.h"]
    assert {"direct_pte_prefetch", "__direct_pte_prefetch", "direct_pte_prefetch_many"} <= names["arch/x86/kvm/mmu/mmu.c"]


C_FILE = """\
static inline int neighbour(int i)
{
\treturn i + 1;
}

int prefetch(int n)
{
\tint sum = 0;

\tfor (int i = 0; i < n; i++)
\t\tsum += neighbour(i);
\tif (n > 100)
\t\tsum = -1;
\treturn sum;
}

int main(void)
{
\treturn prefetch(8) > 0 ? 0 : 1;
}
"""


def _gcov_counts(folder: Path, files: dict[str, str], source: str) -> dict[int, int]:
    """Build `files` (the first a .c) with the host's gcc --coverage, run
    it, and read the line counts of `source` with gcov."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc is missing: run ./setup.sh")
    for name, text in files.items():
        (folder / name).write_text(text)
    main_c = next(n for n in files if n.endswith(".c"))
    proc.run(["gcc", "-O0", "--coverage", "-o", "prog", main_c], cwd=folder, timeout=120)
    proc.run([str(folder / "prog")], cwd=folder, timeout=60)
    (gcda,) = folder.glob("*.gcda")
    (gcno,) = folder.glob("*.gcno")
    return counts_for(line_counts(gcda, gcno), source)


def test_gcov_counts_each_changed_line_in_its_function(tmp_path):
    counts = _gcov_counts(tmp_path, {"p.c": C_FILE}, "p.c")
    runs = changed_runs([3, 7, 13, 12], counts, functions(C_FILE))
    assert [(r.line, r.function, r.count) for r in runs] == [
        (3, "neighbour", 8),  # a static inline function, by its name in the source
        (7, "prefetch", None),  # a brace: no code
        (13, "prefetch", 0),  # never ran
        (12, "prefetch", 1)]
    assert by_function(runs) == {"neighbour": {"lines": 1, "ran": 1, "max_count": 8},
                                 "prefetch": {"lines": 2, "ran": 1, "max_count": 1}}


TMPL = """\
static int FNAME(get)(int x)
{
\treturn x + ONE;
}
"""
TWICE = """\
#define FNAME(name) paging64_##name
#define ONE 1
#include "tmpl.h"
#undef FNAME
#undef ONE
#define FNAME(name) ept_##name
#define ONE 2
#include "tmpl.h"

int main(void)
{
\treturn paging64_get(1) + ept_get(1) + ept_get(2) == 9 ? 0 : 1;
}
"""


def test_a_header_compiled_twice_counts_both_copies(tmp_path):
    """paging_tmpl.h is included once per paging mode: gcov lists its
    lines once per function, and a line ran as often as all of them."""
    counts = _gcov_counts(tmp_path, {"t.c": TWICE, "tmpl.h": TMPL}, "tmpl.h")
    assert counts[3] == 3  # once as paging64_get, twice as ept_get
    assert [(r.function, r.count) for r in changed_runs([3], counts, functions(TMPL))] == [("FNAME(get)", 3)]
