"""Hostile configs: inputs made to crash, exhaust or hang the loader.

Two kinds, each with the message it must produce (`FILE:LINE: KEY: MESSAGE`,
FILE relative to the case's folder, as in the corpus of broken configs):
- committed: tests/data/project/configs/hostile/*.yaml, whose first line is
  `# expect: ...` (helper files live in hostile/parts/);
- generated: files that are large, binary or made of control bytes, written
  by `generated(folder)` into a folder (a test's tmp_path) instead of being
  committed.
Used by tests/unit/test_config_hostile.py and bench/config_hostile.py.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent / "data" / "project"
HOSTILE = PROJECT / "configs" / "hostile"
EXPECT = re.compile(r"^# expect: (?:(?P<file>[^:]+):)?(?P<line>\d+): (?P<key>[^:]+): (?P<msg>.+)$")
ALIASES = "YAML anchors and aliases are not allowed in a config; share settings with extends:"
KIB = 1024
PAD = b"# padding lines\n"  # 16 bytes


@dataclass(frozen=True)
class Case:
    name: str
    path: Path  # the config to run
    expect: str  # must appear in stderr, whitespace collapsed


def committed() -> list[Case]:
    cases = []
    for path in sorted(HOSTILE.glob("*.yaml")):
        m = EXPECT.match(path.read_text(encoding="utf-8").splitlines()[0])
        assert m, f"{path.name}: first line must be '# expect: ...'"
        cases.append(Case(path.stem, path, f"{m['file'] or path.name}:{m['line']}: {m['key']}: {m['msg']}"))
    return cases


def _bomb(level_count: int = 9) -> str:
    """Nine levels of nine aliases: 9**9 strings once expanded."""
    lines = ["lol0: &lol0 [lol]"]
    for i in range(1, level_count + 1):
        lines.append(f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def _files() -> dict[str, tuple[bytes, str]]:
    """name -> (content, expected `LINE: KEY: MESSAGE` in name.yaml)."""
    long_text = b"name: x\ndescription: |\n" + b"\n" * 256_000 + b"  x\n"
    return {
        "big-file-2mib": (PAD * (2048 * KIB // 16),
                          "16385: <document>: file is 2.0 MiB; a config or recipe may have at most 256 KiB"),
        "deep-flow-100k": (b"x: " + b"[" * 100_000 + b"]" * 100_000 + b"\n",
                           "1: x" + "[0]" * 31 + ": nested deeper than 32 levels"),
        "nul-byte": (b"name: x\ndescription: a\x00b\n",
                     "2: <document>: control character U+0000 at column 15 is not allowed in YAML"),
        "escape-byte": (b"name: x\n\x1b[31mred: 1\n",
                        "2: <document>: control character U+001B at column 1 is not allowed in YAML"),
        "del-byte": (b"name: x\r\ndescription: \x7f\r\n",
                     "2: <document>: control character U+007F at column 14 is not allowed in YAML"),
        "latin1": (b"name: x\ndescription: caf\xe9\n", "2: <document>: not UTF-8: byte 0xe9 at column 17"),
        "utf16": ("name: x\n".encode("utf-16"), "1: <document>: not UTF-8: byte 0xff at column 1"),
        "long-value": (b"name: x\ndescription: " + b"a" * 70_000 + b"\n",
                       "2: description: 70000 characters long; a key or value may have at most 65536"),
        "long-key": (b"name: x\n? " + b"k" * 70_000 + b"\n: 1\n",
                     "2: <document>: 70000 characters long; a key or value may have at most 65536"),
        # the slowest text to parse, just under the size limit
        "long-blank-block": (long_text, "2: description: 256002 characters long; a key or value may have at most 65536"),
        "huge-int": (b"name: x\nrepetitions: " + b"1" * 5000 + b"\n",
                     "2: repetitions: bad value: '" + "1" * 40 + "'... (5000 characters) is not a valid int"),
        "many-nodes": (b"name: x\ndescription: [" + b",".join([b"1"] * 12_000) + b"]\n",
                       "2: description[9995]: more than 10000 keys, values and items in one config"),
        "alias-bomb-flow": (("name: x\n" + _bomb()).encode(),
                            f"2: lol0: anchor &lol0: {ALIASES}"),
    }


def _shared_budget(folder: Path) -> Case:
    """Two files under the size limit each, over it together."""
    base = PAD * (160 * KIB // 16)
    config = b"extends: base-160k.yaml\nname: x\n" + base
    (folder / "base-160k.yaml").write_bytes(base)
    (folder / "shared-budget.yaml").write_bytes(config)
    line = (256 * KIB - len(config)) // 16 + 1
    return Case("shared-budget", folder / "shared-budget.yaml",
                f"base-160k.yaml:{line}: <document>: with the files read before it, this config passes 256 KiB of YAML")


def _in_project(folder: Path) -> list[Case]:
    """Cases that need the test project's recipes, in a copy of it: a
    hostile kernel recipe and image recipe (loaded through the same code as
    configs), and a matrix that multiplies to billions of cells."""
    project = folder / "project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("bad", "hostile"))
    (project / "kernels" / "bomb.yaml").write_text("description: bomb\n" + _bomb())
    (project / "images" / "nul.yaml").write_bytes(b"description: x\ninit: init/\x00\n")
    (project / "configs" / "kernel-bomb.yaml").write_text("extends: base.yaml\nname: x\nkernels: {a: {recipe: bomb}}\n")
    (project / "configs" / "image-nul.yaml").write_text("extends: base.yaml\nname: x\nmachines: {l1: {image: nul}}\n")
    values = ", ".join(map(str, range(1, 3001)))
    (project / "configs" / "matrix-bomb.yaml").write_text(
        "extends: base.yaml\nname: x\nrepetitions: 1000\nmatrix:\n  workload: [mm]\n"
        f"  params: {{l1_cpus: [{values}], l2_cpus: [{values}]}}\n")
    return [
        Case("matrix-bomb", project / "configs" / "matrix-bomb.yaml",
             "matrix-bomb.yaml:4: matrix: 2 kernels x 2 tdp x 1 workloads x 3000 l1_cpus x 3000 l2_cpus"
             " x 1000 repetitions = 36000000000 cells; a config may have at most 100000"),
        Case("kernel-recipe-bomb", project / "configs" / "kernel-bomb.yaml", f"kernels/bomb.yaml:2: lol0: anchor &lol0: {ALIASES}"),
        Case("image-recipe-nul", project / "configs" / "image-nul.yaml",
             "images/nul.yaml:2: <document>: control character U+0000 at column 12 is not allowed in YAML"),
    ]


def generated(folder: Path) -> list[Case]:
    """Write the generated cases into `folder` and return them."""
    cases = []
    for name, (content, expect) in _files().items():
        path = folder / f"{name}.yaml"
        path.write_bytes(content)
        cases.append(Case(name, path, f"{path.name}:{expect}"))
    return [*cases, _shared_budget(folder), *_in_project(folder)]


def all_cases(folder: Path) -> list[Case]:
    return [*committed(), *generated(folder)]


def names() -> list[str]:
    """Every case's name, without writing anything (for test ids)."""
    in_project = ["matrix-bomb", "kernel-recipe-bomb", "image-recipe-nul"]
    return [*(c.name for c in committed()), *_files(), "shared-budget", *in_project]
