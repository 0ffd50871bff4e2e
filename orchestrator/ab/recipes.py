"""A's and B's kernel recipes and the experiment that compares them, as files.

A run of `orchestrator ab` must be reproducible from its folder alone, so
everything it made is written there: `ab/kernels/a.yaml` and `b.yaml` (full
recipes, no `extends:`), the patches they apply under `ab/patches/` (by
relative path), and `ab/ab.yaml`, whose `kernels:` names the two recipe
files by path. `--save NAME` writes the same into the project (kernels/,
kernels/patches/NAME/, configs/), named so `orchestrator run` finds them.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from orchestrator.ab.series import SeriesPatch, git_output, resolve_commit
from orchestrator.build.patches import describe
from orchestrator.config import load_kernel_recipe
from orchestrator.config.schema import KernelRecipe
from orchestrator.errors import UserError
from orchestrator.paths import Project

DEFAULT_BASE = "upstream"
DEFAULT_CONFIG = "mmu-suite.yaml"
FALLBACK_BASE = "base/linux-6.12-l1"  # the newest base recipe: a source without its own uses it
SAVE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,61}$")  # NAME-a must still be a recipe name


class _Dumper(yaml.SafeDumper):
    """No anchors or aliases: the loader refuses them."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


@dataclass(frozen=True)
class Base:
    """A: a recipe document without its patches, and its patches as files."""

    doc: dict[str, Any]
    patches: tuple[Path, ...]
    said: str  # how the user named it, for descriptions


def _from_recipe(recipe: KernelRecipe, said: str, **source: str) -> Base:
    doc = recipe.model_dump(mode="json", exclude={"patches"})
    doc["source"] = source or {k: v for k, v in doc["source"].items() if v is not None}
    doc["description"] = f"A: {said}"
    return Base(doc, tuple(Path(p) for p in recipe.patches), said)


def base_from_recipe(project: Project, name: str) -> Base:
    if not project.kernel_recipe(name).is_file():
        raise UserError(f"--base {name}: no kernel recipe kernels/{name}.yaml")
    return _from_recipe(load_kernel_recipe(project, name), name)


def recipe_series(project: Project, name: str) -> tuple[Base, list[SeriesPatch]]:
    """A recipe split in two: its source and config as the base, its patch
    list as the series."""
    base = base_from_recipe(project, name)
    if not base.patches:
        raise UserError(f"--recipe {name}: kernels/{name}.yaml lists no patches")
    series = []
    for path in base.patches:
        info = describe(path)
        series.append(SeriesPatch(info.subject, info.author, path.read_bytes(), str(path)))
    return Base(base.doc, (), f"{name} without its patches"), series


def _version_base(project: Project, version: str | None) -> str:
    """kernels/base/linux-X.Y-l1.yaml where there is one, else the newest."""
    name = f"base/linux-{version}-l1"
    return name if version and project.kernel_recipe(name).is_file() else FALLBACK_BASE


def base_from_package(project: Project, package: str) -> Base:
    match = re.fullmatch(r"linux-source-(\d+\.\d+)", package)
    if not match:
        raise UserError(f"--source {package}: give a Debian kernel source package, e.g. linux-source-6.12")
    if not (Path("/usr/src") / f"{package}.tar.xz").is_file():
        raise UserError(f"--source {package}: /usr/src/{package}.tar.xz is missing (apt-get install {package})")
    recipe = load_kernel_recipe(project, _version_base(project, match.group(1)))
    return _from_recipe(recipe, package, debian_package=package)


def _tree_version(tree: Path, commit: str) -> str | None:
    makefile = git_output(tree, ["show", f"{commit}:Makefile"], f"--tree {tree}")
    fields = dict(re.findall(r"^(VERSION|PATCHLEVEL)\s*=\s*(\d+)\s*$", makefile, re.M))
    return f"{fields['VERSION']}.{fields['PATCHLEVEL']}" if len(fields) == 2 else None


def base_from_tree(project: Project, tree: Path, ref: str) -> Base:
    """The tree at `ref`, pinned to its commit; configured like the base
    recipe of its version (VERSION.PATCHLEVEL of its Makefile)."""
    if not (tree / ".git").exists():
        raise UserError(f"--tree {tree}: not a git work tree")
    commit = resolve_commit(tree, ref, "--ref" if ref != "HEAD" else "--tree HEAD")
    recipe = load_kernel_recipe(project, _version_base(project, _tree_version(tree, commit)))
    return _from_recipe(recipe, f"{tree} at {ref} ({commit[:12]})", git=str(tree), ref=commit)


def _recipe_doc(base: Base, patches: list[str], what: str) -> dict[str, Any]:
    doc = dict(base.doc)
    doc["description"] = what
    doc["patches"] = patches
    return doc


def _copy_patches(base: Base, series: list[SeriesPatch], folder: Path) -> tuple[list[str], list[str]]:
    """Copy A's patches to `folder`/base/ and the series to `folder`; the
    names relative to `folder`."""
    a: list[str] = []
    if base.patches:
        (folder / "base").mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(base.patches, 1):
        name = f"base/{i:04d}-{path.name}"  # numbered: two folders may share a name
        shutil.copyfile(path, folder / name)
        a.append(name)
    b = []
    for i, patch in enumerate(series, 1):
        name = patch.file_name(i)
        (folder / name).write_bytes(patch.data)
        b.append(name)
    return a, b


def _pruned(node: Any) -> Any:
    """Without null values: every optional key of the schema defaults to
    null, so leaving them out changes nothing and the file reads easier."""
    if isinstance(node, dict):
        return {k: _pruned(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_pruned(v) for v in node]
    return node


def experiment_doc(resolved: dict[str, Any], name: str, a: str, b: str, base: Base, count: int) -> dict[str, Any]:
    """The chosen config with its kernels replaced by A and B."""
    doc = _pruned(resolved)
    doc["name"] = name
    doc["description"] = f"orchestrator ab: {count} patch(es) on {base.said}; " + (resolved.get("description") or "")
    doc["kernels"] = {"a": {"recipe": a, "description": f"{base.said}"},
                      "b": {"recipe": b, "description": f"{base.said} + {count} patch(es)"}}
    return doc


def write_run_folder(folder: Path, base: Base, series: list[SeriesPatch], resolved: dict[str, Any], name: str) -> Path:
    """`folder`/kernels/{a,b}.yaml, `folder`/patches/, `folder`/ab.yaml; the
    experiment's path."""
    (folder / "kernels").mkdir(parents=True)
    (folder / "patches").mkdir()
    a, b = _copy_patches(base, series, folder / "patches")
    rel = [f"../patches/{n}" for n in a]
    (folder / "kernels" / "a.yaml").write_text(dump(_recipe_doc(base, rel, f"A: {base.said}")))
    both = rel + [f"../patches/{n}" for n in b]
    (folder / "kernels" / "b.yaml").write_text(dump(_recipe_doc(base, both, f"B: {base.said} + {len(series)} patch(es)")))
    exp = experiment_doc(resolved, name, "kernels/a.yaml", "kernels/b.yaml", base, len(series))
    (folder / "ab.yaml").write_text(dump(exp))
    return folder / "ab.yaml"


def save_targets(project: Project, name: str) -> list[Path]:
    """What `--save NAME` writes; refused if any exists (nothing is overwritten)."""
    if not SAVE_NAME.match(name):
        raise UserError(f"--save {name!r}: letters, digits, . _ - (at most 62)")
    targets = [project.kernels / f"{name}-a.yaml", project.kernels / f"{name}-b.yaml",
               project.kernels / "patches" / name, project.configs / f"{name}.yaml"]
    taken = [str(t) for t in targets if t.exists() or t.is_symlink()]
    if taken:
        raise UserError(f"--save {name}: would overwrite {', '.join(taken)}; choose another name or remove them")
    return targets


def save(project: Project, name: str, base: Base, series: list[SeriesPatch], resolved: dict[str, Any]) -> list[Path]:
    """The recipes and config in the project, so `orchestrator run
    configs/NAME.yaml` reruns the comparison."""
    ka, kb, pdir, config = save_targets(project, name)
    pdir.mkdir(parents=True)
    a, b = _copy_patches(base, series, pdir)
    rel = [f"patches/{name}/{n}" for n in a]  # relative to the recipe file in kernels/
    ka.write_text(dump(_recipe_doc(base, rel, f"A of {name}: {base.said}")))
    kb.write_text(dump(_recipe_doc(base, rel + [f"patches/{name}/{n}" for n in b],
                                   f"B of {name}: {base.said} + {len(series)} patch(es)")))
    config.write_text(dump(experiment_doc(resolved, name, f"{name}-a", f"{name}-b", base, len(series))))
    return [ka, kb, pdir, config]
