"""Load and validate experiments and recipes, before anything builds or boots.

Every problem becomes a ConfigError naming the file, the key path and the
line: pydantic's type errors are mapped back to the YAML marks, and the
cross-checks (recipes exist, workloads known, arguments fit) point at the
key that named the missing thing.
"""

from __future__ import annotations

import difflib
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from orchestrator import collectors, failpoints
from orchestrator.config.guard import MAX_CELLS, Budget, last_resort
from orchestrator.config.files import unreadable, workload_files
from orchestrator.config.knobs import check_knobs
from orchestrator.config.marked import MDict, MList, keypath, load_with_extends, locate
from orchestrator.config.schema import Experiment, ImageRecipe, KernelRecipe
from orchestrator.errors import ConfigError, UserError
from orchestrator.paths import Project, display, expand_user, find_project, is_recipe_path
from orchestrator.workloads import REGISTRY

M = TypeVar("M", bound=BaseModel)

BASE_CONFIG_TARGETS = ("tinyconfig", "defconfig", "allnoconfig", "kvm_guest.config")
# Matrix dimensions a filter or an expectation may name, besides params.
DIMENSIONS = ("kernel", "tdp", "workload", "rep")


@dataclass(frozen=True)
class Loaded:
    """A validated experiment with everything it refers to, also validated."""

    path: Path
    project: Project
    experiment: Experiment
    kernels: dict[str, KernelRecipe]  # recipe name -> recipe (L1 variants and L2)
    images: dict[str, ImageRecipe]
    doc: MDict  # the merged document, for provenance in the results

    @property
    def resolved(self) -> dict[str, Any]:
        return self.experiment.model_dump(mode="json")


def _model_field_names(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed at `loc` (for did-you-mean on unknown keys)."""
    node: Any = model
    for step in loc:
        if isinstance(node, type) and issubclass(node, BaseModel):
            field = node.model_fields.get(step) if isinstance(step, str) else None
            if field is None:
                return []
            node = field.annotation
        else:
            node = _container_item(node)
            if node is None:
                return []
        node = _unwrap(node)
    if isinstance(node, type) and issubclass(node, BaseModel):
        return list(node.model_fields)
    return []


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
        return _unwrap(args[0])
    return tp


def _container_item(tp: Any) -> Any:
    args = typing.get_args(_unwrap(tp))
    return _unwrap(args[-1]) if args else None


def _plain(node: Any) -> Any:
    """Lists become tuples: the models are frozen and strict."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return tuple(_plain(v) for v in node)
    return node


def validate(model: type[M], doc: MDict, fallback_file: str) -> M:
    try:
        return model.model_validate(_plain(doc))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        file, line = locate(doc, loc)
        # keep the steps that exist in the document (drops union branch names)
        shown = []
        node: Any = doc
        for step in loc:
            if isinstance(node, dict) and step in node:
                shown.append(step)
                node = node[step]
            elif isinstance(node, list) and isinstance(step, int) and step < len(node):
                shown.append(step)
                node = node[step]
            else:
                break
        kind = err["type"]
        if kind == "missing":
            shown.append(loc[-1])
            message = "required key is missing"
        elif kind == "extra_forbidden":
            allowed = _model_field_names(model, loc[:-1])
            message = f"unknown key {loc[-1]!r}"
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            if close:
                message += f" (did you mean {close[0]!r}?)"
            elif allowed:
                message += f"; allowed: {', '.join(allowed)}"
        elif kind == "too_short":
            message = f"needs at least {err['ctx']['min_length']} item(s)"
        else:
            message = err["msg"].removeprefix("Value error, ")
            if "input" in err and not isinstance(err["input"], (dict, list, tuple)):
                message += f" (got {err['input']!r})"
        raise ConfigError(file if file != "<unknown>" else fallback_file, line, keypath(tuple(shown)), message) from None


class _Checker:
    """Cross-checks of one document: each failure names where it was said."""

    def __init__(self, doc: MDict, name: str):
        self.doc = doc
        self.name = name

    def fail(self, loc: tuple[Any, ...], message: str) -> typing.NoReturn:
        file, line = locate(self.doc, loc)
        raise ConfigError(file if file != "<unknown>" else self.name, line, keypath(loc), message)


def _suggest(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def load_kernel_recipe(project: Project, name: str, budget: Budget | None = None) -> KernelRecipe:
    """`budget`: shared with the experiment that names the recipe, if any."""
    path = project.kernel_recipe(name)
    with last_resort(display(path)):
        doc = load_with_extends(path, budget)
        recipe = validate(KernelRecipe, doc, display(path))
    chk = _Checker(doc, display(path))
    src = recipe.source
    given = [k for k in ("debian_package", "tarball", "git") if getattr(src, k)]
    if len(given) != 1:
        chk.fail(("source",), "give exactly one of debian_package, tarball, git")
    if src.ref and not src.git:
        chk.fail(("source", "ref"), "ref is only meaningful with git")
    if src.tarball and not (project.kernels / src.tarball).is_file():
        chk.fail(("source", "tarball"), f"file not found: {src.tarball}")
    if src.git and not (_expanded(src.git, ("source", "git"), chk) / "Makefile").is_file():
        chk.fail(("source", "git"), f"not a kernel tree: {src.git}")
    if recipe.base_config not in BASE_CONFIG_TARGETS and not (project.kernels / recipe.base_config).is_file():
        chk.fail(
            ("base_config",),
            f"neither a make target ({', '.join(BASE_CONFIG_TARGETS)}) nor a file in kernels/: {recipe.base_config}",
        )
    for i, frag in enumerate(recipe.fragments):
        if not (project.kernels / "fragments" / frag).is_file():
            chk.fail(("fragments", i), f"file not found: kernels/fragments/{frag}")
    return recipe.model_copy(update={"patches": _patch_paths(project, doc, recipe, chk)})


def _expanded(text: str, key: tuple, chk: _Checker) -> Path:
    """~ expanded; an unknown ~user is the config's error, at its key."""
    try:
        return expand_user(text)
    except UserError as exc:
        chk.fail(key, str(exc))


def _patch_paths(project: Project, doc: MDict, recipe: KernelRecipe, chk: _Checker) -> tuple[str, ...]:
    """The recipe's patches as absolute paths, each checked now. A bare file
    name is in kernels/patches/; anything with a slash is a path, absolute
    (or ~) or relative to the recipe file that lists it (with `extends:`,
    the file the list was written in)."""
    items = doc.get("patches")
    out: list[str] = []
    for i, patch in enumerate(recipe.patches):
        if "/" not in patch:
            path, shown = project.kernels / "patches" / patch, f"kernels/patches/{patch}"
        else:
            path = _expanded(patch, ("patches", i), chk)
            origin = items.item_src[i].origin if isinstance(items, MList) else None
            if not path.is_absolute():
                path = (origin.parent if origin else project.kernels) / path
            shown = patch if str(path) == patch else f"{patch} ({path})"
        problem = unreadable(path)
        if problem:
            chk.fail(("patches", i), f"{problem}: {shown}")
        resolved = str(path.resolve())
        if resolved in out:
            chk.fail(("patches", i), f"the same file is listed twice: {shown}")
        out.append(resolved)
    return tuple(out)


def load_image_recipe(project: Project, name: str, budget: Budget | None = None) -> ImageRecipe:
    path = project.image_recipe(name)
    with last_resort(display(path)):
        doc = load_with_extends(path, budget)
        recipe = validate(ImageRecipe, doc, display(path))
    chk = _Checker(doc, display(path))
    if not (project.images / recipe.init).is_file():
        chk.fail(("init",), f"file not found: images/{recipe.init}")
    for i, f in enumerate(recipe.files):
        if not (project.images / f.src).is_file():
            chk.fail(("files", i, "src"), f"file not found: images/{f.src}")
    if recipe.kvm_stat and not project.kernel_recipe(recipe.kvm_stat).is_file():
        chk.fail(("kvm_stat",), f"unknown kernel recipe {recipe.kvm_stat!r}: no kernels/{recipe.kvm_stat}.yaml")
    if recipe.workloads and not (project.images / "workloads" / "Makefile").is_file():
        chk.fail(("workloads",), "images/workloads/Makefile is missing")
    return recipe


def _recipe_ref(
    chk: _Checker, loc: tuple[Any, ...], project: Project, kind: str, name: str,
    loader: typing.Callable[[Project, str, Budget], M], cache: dict[str, M], budget: Budget,
) -> None:
    if name in cache:
        return
    folder = project.kernels if kind == "kernel" else project.images
    if kind == "kernel" and is_recipe_path(name):
        problem = unreadable(Path(name))
        if problem:
            chk.fail(loc, f"{problem}: recipe file {name}")
    elif not (folder / f"{name}.yaml").is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        chk.fail(loc, f"unknown {kind} recipe {name!r}: no {kind}s/{name}.yaml{_suggest(name, known)}")
    cache[name] = loader(project, name, budget)


def _check_workloads(chk: _Checker, exp: Experiment) -> None:
    for key, wdef in exp.workloads.items():
        kind = wdef.kind or key
        if kind not in REGISTRY:
            loc = ("workloads", key, "kind") if wdef.kind else ("workloads", key)
            chk.fail(loc, f"unknown workload kind {kind!r}{_suggest(kind, REGISTRY)}; known: {', '.join(REGISTRY)}")
        workload = REGISTRY[kind]
        if workload.level is not None and wdef.level not in (None, workload.level):
            chk.fail(("workloads", key, "level"), f"{kind} runs in {workload.level.upper()} only "
                     "(it drives that level's KVM itself)")
        for arg_name, value in wdef.args.items():
            arg = workload.arg(arg_name)
            if arg is None:
                chk.fail(
                    ("workloads", key, "args", arg_name),
                    f"{kind} takes no argument {arg_name!r}; it takes: {', '.join(a.name for a in workload.args)}",
                )
            problem = arg.check(value)
            if problem:
                chk.fail(("workloads", key, "args", arg_name), problem)
        for arg in workload.args:
            if arg.default is None and arg.name not in wdef.args:
                chk.fail(("workloads", key, "args"), f"{kind} needs argument {arg.name!r}")
    for i, name in enumerate(exp.matrix.workload):
        if name not in exp.workloads and name not in REGISTRY:
            known = sorted({*exp.workloads, *REGISTRY})
            chk.fail(("matrix", "workload", i), f"unknown workload {name!r}{_suggest(name, known)}")
        if name not in exp.workloads and REGISTRY[name].args and any(a.default is None for a in REGISTRY[name].args):
            chk.fail(("matrix", "workload", i), f"workload {name!r} needs arguments: define it under workloads:")


def _check_params(chk: _Checker, exp: Experiment) -> None:
    machine_knobs = {"l1_cpus", "l1_memory_mib", "l2_cpus", "l2_memory_mib"}
    for name, values in exp.matrix.params.items():
        if name in DIMENSIONS:
            chk.fail(("matrix", "params", name), f"{name!r} is a matrix dimension of its own, not a param")
        if name in machine_knobs:
            for i, v in enumerate(values):
                if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                    chk.fail(("matrix", "params", name, i), f"{name} values must be positive integers (got {v!r})")
            continue
        # otherwise it is a workload argument that every workload in the matrix takes
        for wname in exp.matrix.workload:
            wdef = exp.workloads.get(wname)
            workload = REGISTRY[(wdef.kind or wname) if wdef else wname]
            arg = workload.arg(name)
            if arg is None:
                chk.fail(
                    ("matrix", "params", name),
                    f"unknown param {name!r}: not a machine knob ({', '.join(sorted(machine_knobs))}) "
                    f"nor an argument of workload {wname!r}",
                )
            for i, v in enumerate(values):
                problem = arg.check(v)
                if problem:
                    chk.fail(("matrix", "params", name, i), f"{name}: {problem}")


def _check_expectations(chk: _Checker, exp: Experiment) -> None:
    # Values valid anywhere, not only in this matrix: a shared base may hold
    # expectations for tdp=on that a tdp-off-only config simply does not reach.
    dims = {
        "kernel": set(exp.kernels),
        "tdp": {"on", "off"},
        "workload": {*exp.workloads, *REGISTRY},
        **{k: set(v) for k, v in exp.matrix.params.items()},
        **{k: set(v) for k, v in exp.matrix.knobs.items()},
    }
    for i, e in enumerate(exp.expectations):
        ns = e.metric.split(".", 1)[0]
        if ns not in collectors.NAMESPACES:
            chk.fail(("expectations", i, "metric"), f"unknown metric namespace {ns!r}; known: {', '.join(collectors.NAMESPACES)}")
        for key, value in e.when.items():
            if key not in dims:
                chk.fail(("expectations", i, "when", key), f"unknown matrix dimension {key!r}; known: {', '.join(dims)}")
            if value not in dims[key]:
                chk.fail(("expectations", i, "when", key), f"{value!r} is not a {key} value; valid: {', '.join(sorted(map(str, dims[key])))}")


def _check_matrix_size(chk: _Checker, exp: Experiment) -> None:
    """Refuse a matrix too large to plan, before anything expands it."""
    dims = {**exp.matrix.params, **exp.matrix.knobs}
    sizes = [len(exp.kernels), len(exp.matrix.tdp), len(exp.matrix.workload),
             *(len(v) for v in dims.values()), exp.repetitions]
    cells = math.prod(sizes)
    if cells > MAX_CELLS:
        params = "".join(f" x {len(v)} {k}" for k, v in dims.items())
        chk.fail(
            ("matrix",),
            f"{sizes[0]} kernels x {sizes[1]} tdp x {sizes[2]} workloads{params} x {exp.repetitions} repetitions"
            f" = {cells} cells; a config may have at most {MAX_CELLS}",
        )


def _recipe_files(exp: Experiment, folder: Path) -> Experiment:
    """Recipes named by path (not by name in kernels/) made absolute, from
    the config file's folder, so the build finds them wherever it runs."""
    kernels = {}
    for variant, ref in exp.kernels.items():
        if is_recipe_path(ref.recipe) and not Path(ref.recipe).is_absolute():
            ref = ref.model_copy(update={"recipe": str((folder / ref.recipe).resolve())})
        kernels[variant] = ref
    return exp.model_copy(update={"kernels": types.MappingProxyType(kernels)})


def load_experiment(path: str | Path, project: Project | None = None) -> Loaded:
    """Load, merge, validate and cross-check an experiment config. `project`:
    the project its names refer to (default: the one the file is in)."""
    path = Path(path)
    name = display(path)
    failpoints.stall("config")
    if not path.is_file():
        raise ConfigError(name, None, "", "file not found")
    budget = Budget()  # the config, its extends and its recipes share it
    with last_resort(name):
        doc = load_with_extends(path, budget)
        exp = _recipe_files(validate(Experiment, doc, name), path.parent)
    project = project or Project(find_project(path.parent))
    chk = _Checker(doc, name)
    kernels: dict[str, KernelRecipe] = {}
    images: dict[str, ImageRecipe] = {}
    for variant, ref in exp.kernels.items():
        _recipe_ref(chk, ("kernels", variant, "recipe"), project, "kernel", ref.recipe, load_kernel_recipe, kernels, budget)
    _recipe_ref(chk, ("machines", "l2", "kernel"), project, "kernel", exp.machines.l2.kernel, load_kernel_recipe, kernels, budget)
    _recipe_ref(chk, ("machines", "l1", "image"), project, "image", exp.machines.l1.image, load_image_recipe, images, budget)
    _recipe_ref(chk, ("machines", "l2", "image"), project, "image", exp.machines.l2.image, load_image_recipe, images, budget)
    for i, coll in enumerate(exp.collectors):
        if coll not in collectors.KNOWN:
            chk.fail(("collectors", i), f"unknown collector {coll!r}{_suggest(coll, collectors.KNOWN)}; known: {', '.join(collectors.KNOWN)}")
    _check_matrix_size(chk, exp)
    _check_workloads(chk, exp)
    exp = workload_files(chk, exp, path.parent)
    _check_params(chk, exp)
    check_knobs(chk, exp)
    _check_expectations(chk, exp)
    return Loaded(path=path, project=project, experiment=exp, kernels=kernels, images=images, doc=doc)
