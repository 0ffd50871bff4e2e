"""Which objects a coverage kernel instruments, and the Makefile lines that
say so, read from the kernel tree itself.

gcov in the kernel is switched on per object by `GCOV_PROFILE_<name>.o := y`
in the kbuild Makefile that builds it (kbuild matches on the object's base
name, `mmu` for `mmu/mmu.o`). A changed `.c` file is its own object; a
changed header is instrumented through the `.c` files that include it,
found by their `#include` lines. Everything else stays uninstrumented, so
the coverage kernel runs close to the measured one and its counters stay
few (the whole kernel under gcov would not boot fast under TCG).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from orchestrator.coverage.changes import FILE

# Where to look for the includers of a header that no Makefile near it
# builds (a header under include/): KVM's own code, the code under test.
KVM_DIRS = ("arch/x86/kvm", "virt/kvm")
HEADER = "# orchestrator coverage build: gcov for the objects the compared patches change\n"


def touched_files(patch: str) -> list[str]:
    """The tree paths a patch writes, in order of first appearance."""
    seen: dict[str, None] = {}
    for line in patch.splitlines():
        if (m := FILE.match(line)) and m.group(1) != "/dev/null":
            seen.setdefault(m.group(1), None)
    return list(seen)


def makefile_dir(src: Path, rel: str) -> str:
    """The folder whose kbuild Makefile builds the objects of `rel`'s folder:
    the nearest with a Makefile or Kbuild (arch/x86/kvm builds mmu/mmu.o)."""
    d = PurePosixPath(rel).parent
    while str(d) not in (".", ""):
        if (src / d / "Makefile").is_file() or (src / d / "Kbuild").is_file():
            return str(d)
        d = d.parent
    return ""


def _includers(src: Path, header: str) -> list[str]:
    name = re.escape(PurePosixPath(header).name)
    pattern = re.compile(rf'^\s*#\s*include\s*["<](?:[^">]*/)?{name}[">]', re.M)
    home = makefile_dir(src, header)
    roots = [home] if home and not home.startswith("include") else list(KVM_DIRS)
    found = []
    for root in roots:
        for c in sorted((src / root).rglob("*.c")) if (src / root).is_dir() else []:
            if pattern.search(c.read_text(errors="replace")):
                found.append(str(c.relative_to(src)))
    return found


def objects_for(src: Path, files: list[str]) -> list[str]:
    """The objects (tree-relative `.o` paths) that hold the code of `files`."""
    objects: dict[str, None] = {}
    for rel in files:
        if rel.endswith(".c") and (src / rel).is_file():
            objects.setdefault(rel[:-2] + ".o", None)
        elif rel.endswith(".h"):
            for c in _includers(src, rel):
                objects.setdefault(c[:-2] + ".o", None)
    return sorted(objects)


def instrument_patch(src: Path, objects: list[str]) -> str:
    """A patch adding `GCOV_PROFILE_<name>.o := y` at the top of each
    Makefile that builds one of `objects` (a zero-context hunk: it applies
    whatever the Makefile holds, on any kernel version)."""
    per_makefile: dict[str, set[str]] = {}
    for obj in objects:
        d = makefile_dir(src, obj)
        mk = f"{d}/Makefile" if (src / d / "Makefile").is_file() else f"{d}/Kbuild"
        per_makefile.setdefault(mk, set()).add(PurePosixPath(obj).stem)
    out = []
    for mk in sorted(per_makefile):
        lines = [HEADER] + [f"GCOV_PROFILE_{stem}.o := y\n" for stem in sorted(per_makefile[mk])] + ["\n"]
        out.append(f"--- a/{mk}\n+++ b/{mk}\n@@ -0,0 +1,{len(lines)} @@\n" + "".join("+" + ln for ln in lines))
    return "".join(out)
