"""Coverage kernels: the measured kernel's sources, patches and config,
plus gcov for the objects that the compared kernels' patches change.

A coverage kernel is derived from a measured kernel's inputs: the
fragment `gcov.config` and a last patch, generated from the work tree,
that adds `GCOV_PROFILE_<obj>.o := y` to the Makefiles of those objects.
Its key hashes the generator's inputs (the changed files and the
generator's version) with everything else, so it is cached like any
kernel. The entry also keeps what reading its counters needs: the `.gcno`
notes of the instrumented objects and the changed files as built.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from orchestrator.build.cache import key_of, sha256_file
from orchestrator.build.inputs import Inputs, patch_file
from orchestrator.build.kernel import BuildError, Kernel, KernelBuilder, Progress
from orchestrator.build.worktree import WorkTree
from orchestrator.coverage import targets
from orchestrator.errors import UserError
from orchestrator.paths import Project

FRAGMENT = "gcov.config"
PATCH = "gcov-instrument.patch"
GENERATOR = 1  # bump when coverage/targets.py changes what it writes
SUFFIX = "+coverage"
DIR = "gcov"  # in the entry: targets.json, notes/<object>.gcno, src/<changed file>


def changed_files(inputs: list[Inputs]) -> tuple[str, ...]:
    """Every tree path a patch of any compared kernel writes: a file one
    kernel patches and the other does not differs between them too."""
    seen: dict[str, None] = {}
    for one in inputs:
        for i, (name, _) in enumerate(one.patches):
            for path in targets.touched_files(one.files[patch_file(i, name)].read_text(errors="replace")):
                seen.setdefault(path, None)
    return tuple(sorted(seen))


def coverage_inputs(measured: Inputs, files: tuple[str, ...], fragments: Path, generated: Path) -> Inputs:
    ident = key_of({"generator": GENERATOR, "files": list(files)})
    frag = fragments / FRAGMENT
    index = len(measured.patches)
    return replace(
        measured, name=measured.name + SUFFIX,
        fragments=measured.fragments + ((FRAGMENT, sha256_file(frag)),),
        patches=measured.patches + ((PATCH, ident),),
        files={**measured.files, f"fragments/{FRAGMENT}": frag, patch_file(index, PATCH): generated / f"{ident}.patch"},
    )


class CoverageBuilder(KernelBuilder):
    """Builds coverage kernels: the instrumenting patch is written from the
    work tree just before the patches go on, and the notes and changed
    sources are published with the bzImage."""

    def __init__(self, *args: Any, files: tuple[str, ...], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.files = files
        self.generated = self.root / "generated"
        self._objects: list[str] = []

    def derive(self, measured: Inputs) -> Inputs:
        return coverage_inputs(measured, self.files, self.project.kernels / "fragments", self.generated)

    def _before_patches(self, inputs: Inputs, tree: WorkTree) -> None:
        self._objects = targets.objects_for(tree.src, list(self.files))
        if not self._objects:
            raise BuildError(f"kernel {inputs.name}: none of the changed files ({', '.join(self.files)}) "
                             "is compiled code this build can instrument")
        out = inputs.files[patch_file(len(inputs.patches) - 1, PATCH)]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(targets.instrument_patch(tree.src, self._objects))

    def _publish_extra(self, inputs: Inputs, tree: WorkTree, stage: Path) -> None:
        notes = []
        for obj in self._objects:
            gcno = tree.obj / (obj[:-2] + ".gcno")
            if gcno.is_file():  # an object this config does not build has none
                dest = stage / DIR / "notes" / gcno.relative_to(tree.obj)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(gcno, dest)
                notes.append(obj)
        for rel in self.files:
            if (tree.src / rel).is_file():
                dest = stage / DIR / "src" / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(tree.src / rel, dest)
        if not notes:
            raise BuildError(f"kernel {inputs.name}: no gcov notes were written for {', '.join(self._objects)}")
        # where the objects were built: L1's debugfs names its counters by it
        (stage / DIR / "targets.json").write_text(json.dumps(
            {"files": list(self.files), "objects": notes, "obj_root": str(tree.obj)}, indent=2) + "\n")


def build_coverage(project: Project, names: dict[str, str], progress: Progress | None = None,
                   **options: Any) -> dict[str, Kernel]:
    """{variant: coverage kernel} for {variant: measured recipe}; each
    instruments the files that any of the recipes' patches change.
    `options` are KernelBuilder's (cache, jobs, use_ccache)."""
    measured = {v: KernelBuilder(project, **options).inputs(r) for v, r in names.items()}
    files = changed_files(list(measured.values()))
    if not files:
        raise UserError(f"kernels {', '.join(names.values())} carry no patches: there is no changed code to cover")
    builder = CoverageBuilder(project, progress=progress, files=files, **options)
    out = {}
    for variant, inputs in measured.items():
        builder.progress("build", f"coverage kernel of {inputs.name}")
        out[variant] = builder.build_inputs(builder.derive(inputs))
    return out


def targets_of(kernel: Kernel) -> dict[str, Any]:
    return json.loads((kernel.path / DIR / "targets.json").read_text())
