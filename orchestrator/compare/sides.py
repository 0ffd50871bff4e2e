"""Which records each side of a diff holds: two variants of one run, two
runs (by id or label), or A/A (a side against itself, or the nightly's twin:
two variants built from the same kernel key)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import UserError
from orchestrator.results.models import Manifest, Record
from orchestrator.results.store import Run, Store, open_folder


@dataclass(frozen=True)
class Sides:
    mode: str  # variants, runs, a/a
    runs: list[Run]
    manifests: list[Manifest]
    records: tuple[list[Record], list[Record]]
    a: str
    b: str
    same_side: bool = False  # A/A of one side: its repetitions are split

    def patches(self) -> dict[str, list[dict[str, str]]]:
        """What each side's kernel carries (manifests before patch subjects
        were recorded have none: nothing is shown for them)."""
        def of(m: Manifest) -> dict[str, list[dict[str, str]]]:
            return {v: [{k: x for k, x in p.model_dump().items() if x is not None} for p in k.patches]
                    for v, k in m.artifacts.kernels.items()}
        if self.mode != "runs":
            found = of(self.manifests[0])
            return {side: found[side] for side in dict.fromkeys((self.a, self.b)) if found.get(side)}
        out = {}
        for side, m in zip((self.a, self.b), self.manifests):
            found = of(m)
            for variant, patches in found.items():
                if patches:
                    out[side if len(found) == 1 else f"{side}:{variant}"] = patches
        return out


def open_run(store: Store, ref: str) -> Run:
    """`--run`: a run by the path of its folder (said explicitly, with a
    separator), else as `by_name`."""
    return open_folder(Path(ref)) if "/" in ref else by_name(store, ref)


def by_name(store: Store, ref: str) -> Run:
    """A run of the store by its label (when exactly one run has it) or its
    id; never a path, so A and B cannot reach outside the results folder."""
    runs = store.by_label(ref)
    if len(runs) > 1:
        raise UserError(f"label {ref!r} names {len(runs)} runs ({', '.join(r.id for r in runs)}); use a run id")
    return runs[0] if runs else store.open(ref)


def _kernel_key(manifest: Manifest, variant: str) -> str | None:
    kernel = manifest.artifacts.kernels.get(variant)
    return kernel.key if kernel else None


def _run_named(store: Store, ref: str, latest: Run, kernels: set[str]) -> Run:
    """A side named as a run; if it is none, say what it could have been."""
    try:
        return by_name(store, ref)
    except UserError:
        has = ", ".join(sorted(kernels)) or "no cells (a run of the gate alone?)"
        raise UserError(f"{ref!r} is neither a kernel of the latest run {latest.id} (it has {has}) "
                        f"nor a run label or id in {store.root}") from None


def resolve(store: Store, a: str, b: str, run_ref: str | None) -> Sides:
    run = open_run(store, run_ref) if run_ref else store.latest()
    records = list(run.records())
    kernels = {r.cell.kernel for r in records}
    if a in kernels and b in kernels:
        m = run.manifest()
        ka, kb = _kernel_key(m, a), _kernel_key(m, b)
        twin = a != b and ka is not None and ka == kb
        mode = "a/a" if a == b or twin else "variants"
        pick = ([r for r in records if r.cell.kernel == a], [r for r in records if r.cell.kernel == b])
        return Sides(mode, [run], [m], pick, a, b, same_side=a == b)
    if run_ref:
        raise UserError(f"run {run.id} has kernels {', '.join(sorted(kernels))}; not {a!r} and {b!r}")
    missing = [ref for ref in (a, b) if ref not in kernels]
    if len(missing) == 1:  # one side is a kernel of the run: the other was meant as one too
        has = ", ".join(sorted(kernels))
        raise UserError(f"{missing[0]!r} is not a kernel of the latest run {run.id} (it has {has}); "
                        "to compare two runs, name both by label or id")
    runs = [_run_named(store, ref, run, kernels) for ref in (a, b)]
    same = runs[0].folder == runs[1].folder
    recs = list(runs[0].records())
    return Sides("a/a" if same else "runs", runs, [r.manifest() for r in runs],
                 (recs, recs if same else list(runs[1].records())), a, b, same_side=same)
