"""A project around the fake kernel tree (tests/data/fake-kernel) for the
build layer's tests: a tarball source, one fragment, three patches."""

from __future__ import annotations

import tarfile
from pathlib import Path

from orchestrator.paths import Project

DATA = Path(__file__).resolve().parent.parent / "data"

PATCH_A = """\
--- a/kvm.c
+++ b/kvm.c
@@ -1 +1 @@
-int kvm(void) { return 0; }
+int kvm(void) { return 1; } /* A */
"""
PATCH_B = """\
--- a/kvm.c
+++ b/kvm.c
@@ -1 +1 @@
-int kvm(void) { return 1; } /* A */
+int kvm(void) { return 2; } /* B */
"""
PATCH_BROKEN = """\
--- a/other.c
+++ b/other.c
@@ -1 +1 @@
-int other(void) { return 1; }
+#error broken on purpose
"""


def recipe(project: Path, name: str, patches=(), fragments=("f.config",), base="tinyconfig") -> Path:
    lines = ["source: {tarball: fake.tar.gz}", f"base_config: {base}", f"fragments: {list(fragments)}",
             f"patches: {list(patches)}"]
    path = project / "kernels" / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def make_project(tmp_path: Path) -> Project:
    root = tmp_path / "proj"
    for sub in ("kernels/fragments", "kernels/patches", "images", "configs"):
        (root / sub).mkdir(parents=True)
    with tarfile.open(root / "kernels" / "fake.tar.gz", "w:gz") as tar:
        tar.add(DATA / "fake-kernel", arcname="fake-kernel")
    (root / "kernels/fragments/f.config").write_text("CONFIG_KVM=y\n")
    (root / "kernels/patches/0001-a.patch").write_text(PATCH_A)
    (root / "kernels/patches/0002-b.patch").write_text(PATCH_B)
    (root / "kernels/patches/0003-broken.patch").write_text(PATCH_BROKEN)
    recipe(root, "plain")
    recipe(root, "a", ["0001-a.patch"])
    recipe(root, "ab", ["0001-a.patch", "0002-b.patch"])
    return Project(root)
