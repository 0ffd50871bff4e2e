"""The commands that build a kernel from nothing, as data.

One plan serves three readers: the builder runs its steps (all of them on
a cold build; on an incremental one, those its work tree still needs),
metadata.json lists them, and reproduce.sh, written from the same argv
lists, runs them all in an empty folder. Paths that differ between those
places are references: `work` is the folder built in (src/, obj/),
`input` a file of the recipe by its name in the cache entry (a patch, a
fragment, a base config), which the entry carries a copy of.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Union

from orchestrator.build.inputs import Inputs

BZIMAGE = "arch/x86/boot/bzImage"
# how metadata.json writes a reference; reproduce.sh has these variables
PLACEHOLDERS = {"work": "${WORK}", "input": "${ENTRY}"}
SHELL_VARS = {"work": '"$WORK"', "input": '"$ENTRY"'}


@dataclass(frozen=True)
class Ref:
    """A path under `base`, written after `prefix` in one argument
    (`O=` + the object folder)."""

    base: Literal["work", "input"]
    rel: str = ""
    prefix: str = ""

    def render(self, base: str, quote: Callable[[str], str] = lambda s: s) -> str:
        rel = quote("/" + self.rel) if self.rel else ""
        return (quote(self.prefix) if self.prefix else "") + base + rel


Arg = Union[str, Ref]
Where = Callable[[Ref], str]  # a reference -> the path it means where the step runs


@dataclass(frozen=True)
class Step:
    phase: Literal["check", "extract", "patch", "configure", "build"]
    argv: tuple[Arg, ...]
    cwd: Ref | None = None

    def argv_at(self, where: Where) -> list[str]:
        return [a if isinstance(a, str) else a.prefix + where(a) for a in self.argv]

    def as_json(self) -> dict[str, object]:
        def text(a: Arg) -> str:
            return a if isinstance(a, str) else a.render(PLACEHOLDERS[a.base])

        return {"phase": self.phase, "cwd": text(self.cwd) if self.cwd else None,
                "argv": [text(a) for a in self.argv]}

    def shell(self) -> str:
        """One line of POSIX shell: every word quoted, references as "$VAR"/path."""
        def word(a: Arg) -> str:
            return shlex.quote(a) if isinstance(a, str) else a.render(SHELL_VARS[a.base], shlex.quote)

        line = " ".join(word(a) for a in self.argv)
        return f"(cd {word(self.cwd)} && {line})" if self.cwd else line


SRC, OBJ = Ref("work", "src"), Ref("work", "obj")


def extract(inputs: Inputs) -> list[Step]:
    """Folders and the unpacked source (a git source: its commit, archived)."""
    source = str(inputs.files["source"])
    steps = [Step("extract", ("mkdir", "-p", SRC, OBJ))]
    if inputs.source["kind"] == "git":
        archive = Ref("work", "source.tar")
        return [*steps,
                Step("extract", ("git", "-C", source, "archive", "--format=tar", "-o", archive, inputs.source["commit"])),
                Step("extract", ("tar", "-xf", archive, "-C", SRC)),
                Step("extract", ("rm", "-f", archive))]
    return [*steps, Step("extract", ("tar", "-xf", source, "-C", SRC, "--strip-components=1"))]


def check_source(inputs: Inputs) -> list[Step]:
    """The reproducer's first step: the source tarball is the one built from."""
    if inputs.source["kind"] == "git":
        return []
    return [Step("check", ("sha256sum", "--check", "--quiet", Ref("input", "source.sha256")))]


def patch(rel: str, reverse: bool = False) -> Step:
    """Apply (or revert) one patch file, strictly: no fuzz, nothing asked."""
    flags = ("-R",) if reverse else ("--forward",)
    return Step("patch", ("patch", "-p1", "--batch", "--fuzz=0", *flags, "-i", Ref("input", rel)), SRC)


def dry_run(step: Step) -> Step:
    """The same patch command, changing nothing: to learn first whether it applies."""
    return Step(step.phase, (*step.argv[:-2], "--dry-run", *step.argv[-2:]), step.cwd)


def make(make_vars: list[str], *targets: str) -> Step:
    return Step("configure", ("make", "-C", SRC, Ref("work", "obj", "O="), *make_vars, *targets))


def configure(inputs: Inputs, make_vars: list[str]) -> list[Step]:
    """Base config, fragments merged on it, olddefconfig."""
    steps = []
    if "file" in inputs.base_config:
        (base,) = [name for name in inputs.files if name.startswith("base-config/")]
        steps += [Step("configure", ("cp", Ref("input", base), Ref("work", "obj/.config"))),
                  make(make_vars, "olddefconfig")]
    else:
        steps.append(make(make_vars, inputs.base_config["target"]))
    if inputs.fragments:
        merge = Ref("work", "src/scripts/kconfig/merge_config.sh")
        frags = tuple(Ref("input", f) for f in inputs.fragment_files)
        steps.append(Step("configure", ("sh", merge, "-m", "-O", OBJ, Ref("work", "obj/.config"), *frags), SRC))
    steps.append(make(make_vars, "olddefconfig"))
    return steps


def build(inputs: Inputs, make_vars: list[str], jobs: int) -> Step:
    return Step("build", ("make", "-C", SRC, Ref("work", "obj", "O="), f"-j{jobs}", *make_vars, inputs.target))


def plan(inputs: Inputs, make_vars: list[str], jobs: int) -> list[Step]:
    """Every step, from nothing to bzImage, in order."""
    return [*check_source(inputs), *extract(inputs), *(patch(f) for f in inputs.patch_files),
            *configure(inputs, make_vars), build(inputs, make_vars, jobs)]
