"""The coverage pass in a diff report: per cell group, each changed
function with how many of its changed lines ran on each kernel and how
often (the most-run line). The terminal's tables are `orchestrator
coverage`'s (cli/coverage.py); these are for the files people keep."""

from __future__ import annotations

from typing import Any


def figure(kernel: dict[str, Any] | None, fn: str) -> str:
    """`ran/lines ×most`, or why there is no figure."""
    if kernel is None:
        return "-"
    if "failed" in kernel:
        return "failed"
    f = kernel.get("functions", {}).get(fn)
    return "" if f is None else f"{f['ran']}/{f['lines']} ×{f['max_count']:,}"


def tables(data: dict[str, Any], variants: list[str]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(cell group, header, rows) for each cell group of the pass."""
    out = []
    for name, group in data["groups"].items():
        functions = sorted({f for k in group["kernels"].values() for f in k.get("functions", {})})
        rows = [[fn, *(figure(group["kernels"].get(v), fn) for v in variants)] for fn in functions]
        out.append((name, ["changed function", *(f"{v}: lines run ×most" for v in variants)], rows))
    return out


def markdown(data: dict[str, Any] | None, variants: list[str]) -> list[str]:
    if not data:
        return []
    lines = [f"### Coverage (`{data['run']}`)", "",
             "How many of each changed function's lines with code ran during the workload, and the most-run "
             "line's count, on the coverage kernels (see docs/coverage.md).", ""]
    for name, header, rows in tables(data, variants):
        lines += [f"#### {name}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        lines += ["| " + " | ".join(f"`{r[0]}`" if i == 0 else r[i] for i in range(len(r))) + " |" for r in rows]
        lines.append("")
    return lines


def text(data: dict[str, Any] | None, variants: list[str]) -> list[str]:
    """One line per changed function and cell group, for a mail."""
    if not data:
        return []
    out = [f"Coverage ({data['run']}): lines run/changed lines x most-run count"]
    for name, _, rows in tables(data, variants):
        out.append(f"  {name}")
        for r in rows:
            shown = "  ".join(f"{v} {x}" for v, x in zip(variants, r[1:]) if x)
            out.append(f"    {r[0].rsplit('/', 1)[-1]}: {shown or 'not a changed function here'}")
    return out
