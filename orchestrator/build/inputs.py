"""What a kernel build depends on, hashed into its cache keys.

`resolve()` turns a recipe into `Inputs` without touching the cache. The
files an input names (patches, fragments, a base config file) are listed
by the name they get in a cache entry (`patches/0000-x.patch`, ...), so the
builder, the entry and its reproducer agree on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator import proc
from orchestrator.build.cache import FileHashes, key_of, sha256_file
from orchestrator.config import load_kernel_recipe
from orchestrator.config.load import BASE_CONFIG_TARGETS
from orchestrator.config.schema import KernelRecipe
from orchestrator.errors import InfraError, UserError
from orchestrator.paths import Project, expand_user

# Bump when the layout of an entry or the build procedure changes: every
# kernel is rebuilt (it is part of every key).
FORMAT = 1


@dataclass(frozen=True)
class Inputs:
    """Everything a build depends on, hashed."""

    name: str
    source: dict[str, str]
    base_config: dict[str, str]
    fragments: tuple[tuple[str, str], ...]  # (name, sha256)
    # (file name, sha256): only the hash is part of the key
    patches: tuple[tuple[str, str], ...]
    compiler: str
    target: str
    files: dict[str, Path] = field(compare=False, repr=False)  # entry name -> where the input lives

    @property
    def tree_key(self) -> str:
        return key_of({
            "format": FORMAT, "source": self.source, "base_config": self.base_config,
            "fragments": self.fragments, "compiler": self.compiler,
        })

    @property
    def key(self) -> str:
        # the patches' contents in order, not their names: the same series
        # under other file names (an mbox split, a git range, a series walk)
        # is the same build and finds the same entry
        return key_of({"tree": self.tree_key, "patches": [h for _, h in self.patches], "target": self.target})

    @property
    def patch_files(self) -> list[str]:
        """The entry names of the patches, in order (index-prefixed: two
        patches from different folders may share a file name)."""
        return [patch_file(i, name) for i, (name, _) in enumerate(self.patches)]

    @property
    def fragment_files(self) -> list[str]:
        return [f"fragments/{name}" for name, _ in self.fragments]

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "base_config": self.base_config,
            "fragments": [{"name": n, "sha256": h} for n, h in self.fragments],
            "patches": [
                {"name": n, "sha256": h, "path": str(self.files[f])}
                for (n, h), f in zip(self.patches, self.patch_files)
            ],
            "compiler": self.compiler,
            "target": self.target,
        }


def patch_file(index: int, name: str) -> str:
    return f"patches/{index:04d}-{name}"


def compiler_version() -> str:
    try:
        out = proc.run(["gcc", "--version"], timeout=30).output
    except InfraError as exc:
        raise InfraError("gcc is missing: run ./setup.sh") from exc
    return out.splitlines()[0].strip()


def _source_identity(project: Project, recipe: KernelRecipe, hashes: FileHashes) -> tuple[dict[str, str], Path]:
    src = recipe.source
    if src.debian_package:
        tarball = Path("/usr/src") / f"{src.debian_package}.tar.xz"
        if not tarball.is_file():
            raise UserError(f"{tarball} is missing: install the Debian package {src.debian_package} (./setup.sh does)")
        return {"kind": "debian_package", "package": src.debian_package, "sha256": hashes.get(tarball)}, tarball
    if src.tarball:
        tarball = (project.kernels / src.tarball).resolve()
        return {"kind": "tarball", "name": tarball.name, "sha256": hashes.get(tarball)}, tarball
    assert src.git
    repo = expand_user(src.git).resolve()
    ref = src.ref or "HEAD"
    try:
        commit = proc.run(["git", "-C", str(repo), "rev-parse", "--verify", f"{ref}^{{commit}}"], timeout=60).output.strip()
    except InfraError as exc:
        raise UserError(f"kernel source {repo}: cannot resolve ref {ref!r}") from exc
    return {"kind": "git", "commit": commit}, repo


def resolve(project: Project, name: str, hashes: FileHashes, compiler: str | None = None) -> Inputs:
    recipe = load_kernel_recipe(project, name)
    source, source_path = _source_identity(project, recipe, hashes)
    files: dict[str, Path] = {"source": source_path}
    if recipe.base_config not in BASE_CONFIG_TARGETS:
        base_path = project.kernels / recipe.base_config
        base = {"file": recipe.base_config, "sha256": sha256_file(base_path)}
        files[f"base-config/{base_path.name}"] = base_path
    else:
        base = {"target": recipe.base_config}
    fragments = []
    for frag in recipe.fragments:
        path = project.kernels / "fragments" / frag
        fragments.append((frag, sha256_file(path)))
        files[f"fragments/{frag}"] = path
    patches = []
    for i, patch in enumerate(recipe.patches):  # absolute paths once loaded
        path = Path(patch)
        patches.append((path.name, sha256_file(path)))
        files[patch_file(i, path.name)] = path
    return Inputs(
        name=name, source=source, base_config=base, fragments=tuple(fragments),
        patches=tuple(patches), compiler=compiler or compiler_version(), target=recipe.target,
        files=files,
    )
