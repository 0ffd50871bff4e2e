"""A series walk's kernels as files: the base and every prefix of the
series, `p0` (the base) to `pN` (all N patches), written into the run
folder as `ab` writes A and B, so the walk reruns from its folder alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.ab.recipes import Base, _copy_patches, _pruned, _recipe_doc, dump
from orchestrator.ab.series import SeriesPatch


def step_name(index: int) -> str:
    """p0 is the base; pK carries the first K patches."""
    return f"p{index}"


def write_steps(folder: Path, base: Base, series: list[SeriesPatch]) -> list[Path]:
    """`folder`/kernels/p0.yaml .. pN.yaml and `folder`/patches/; the
    recipe files in step order."""
    (folder / "kernels").mkdir(parents=True)
    (folder / "patches").mkdir()
    a, b = _copy_patches(base, series, folder / "patches")
    own = [f"../patches/{n}" for n in a]
    paths = []
    for k in range(len(series) + 1):
        what = f"{step_name(k)}: {base.said}" + (f" + {k} of {len(series)}: {series[k - 1].subject}" if k else "")
        path = folder / "kernels" / f"{step_name(k)}.yaml"
        path.write_text(dump(_recipe_doc(base, own + [f"../patches/{n}" for n in b[:k]], what)))
        paths.append(path)
    return paths


def experiment_doc(resolved: dict[str, Any], name: str, base: Base, series: list[SeriesPatch],
                   steps: list[int]) -> dict[str, Any]:
    """The chosen config with its kernels replaced by the steps that built
    (named by relative path, as `ab` does)."""
    doc = _pruned(resolved)
    doc["name"] = name
    doc["description"] = f"orchestrator series: {len(series)} patch(es) on {base.said}"
    doc["kernels"] = {
        step_name(k): {"recipe": f"kernels/{step_name(k)}.yaml",
                       "description": series[k - 1].subject if k else f"{base.said} (base)"}
        for k in steps}
    doc.pop("expectations", None)  # they name the config's own kernels, which a walk replaces
    return doc


def write_experiment(folder: Path, doc: dict[str, Any]) -> Path:
    path = folder / "series.yaml"
    path.write_text(dump(doc))
    return path
