"""The patch series B adds to A: files, one mbox, a git range, a dirty tree.

Every form ends as the same list of patches in order, each with the subject
and author a reviewer knows it by and its exact bytes. Git runs through
orchestrator/proc.py with argv lists; its refs are the user's, never a shell
string.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from orchestrator import proc
from orchestrator.build.patches import describe, looks_like_mbox, slug, split_mbox
from orchestrator.config.files import unreadable
from orchestrator.errors import InfraError, UserError
from orchestrator.paths import expand_user

GIT_TIMEOUT_S = 300


@dataclass(frozen=True)
class SeriesPatch:
    subject: str
    author: str
    data: bytes
    origin: str  # where it came from, for messages and the manifest

    def file_name(self, index: int) -> str:
        """`NNNN-subject.patch`, as git format-patch names it (1-based)."""
        return f"{index:04d}-{slug(self.subject or Path(self.origin).stem)}.patch"


def _readable(path: Path, what: str) -> None:
    problem = unreadable(path)
    if problem:
        raise UserError(f"{what} {path}: {problem}")


def from_mbox(path: Path) -> list[SeriesPatch]:
    return [SeriesPatch(m.subject, m.author, m.text, f"{path} message {i}")
            for i, m in enumerate(split_mbox(path), 1)]


def from_files(names: list[str], cwd: Path) -> list[SeriesPatch]:
    """Patch files (relative to `cwd`), or ONE mbox holding a whole series."""
    paths = [expand_user(n) if expand_user(n).is_absolute() else (cwd / n).resolve() for n in names]
    for path in paths:
        _readable(path, "patch")
    if len(paths) == 1 and looks_like_mbox(paths[0]):
        return from_mbox(paths[0])
    out = []
    for path in paths:
        info = describe(path)
        out.append(SeriesPatch(info.subject, info.author, path.read_bytes(), str(path)))
    return out


def git_output(tree: Path, args: list[str], what: str) -> str:
    try:
        return proc.run(["git", "-C", str(tree), *args], timeout=GIT_TIMEOUT_S).output
    except InfraError as exc:
        detail = getattr(exc, "tail", "") or str(exc)
        raise UserError(f"{what}: git {' '.join(args[:2])} failed in {tree}:\n{str(detail).strip()}") from None


def split_range(spec: str) -> tuple[str, str]:
    """BASE..TIP, both given: a range the commits of a series lie in."""
    base, sep, tip = spec.partition("..")
    if not sep or not base or not tip or tip.startswith("."):
        raise UserError(f"--range {spec!r}: give BASE..TIP (two refs of the tree)")
    for ref in (base, tip):
        check_ref(ref, "--range")
    return base, tip


def check_ref(ref: str, what: str) -> None:
    """A ref is never an option to git."""
    if ref.startswith("-") or "\x00" in ref:
        raise UserError(f"{what} {ref!r}: not a git ref")


def from_range(tree: Path, spec: str) -> list[SeriesPatch]:
    """The commits BASE..TIP, through `git format-patch --stdout`, then the
    same split as any mbox: subject and author are each commit's."""
    base, tip = split_range(spec)
    for ref in (base, tip):
        git_output(tree, ["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], f"--range {spec}: {ref!r}")
    text = git_output(tree, ["format-patch", "--stdout", "--no-signature", f"{base}..{tip}"], f"--range {spec}")
    if not text.strip():
        raise UserError(f"--range {spec}: no commits between {base} and {tip} in {tree}")
    with tempfile.TemporaryDirectory(prefix="orchestrator-range-") as tmp:
        mbox = Path(tmp) / "series.mbox"
        mbox.write_text(text)
        return [SeriesPatch(p.subject, p.author, p.data, f"{tree} {spec} commit {i}")
                for i, p in enumerate(from_mbox(mbox), 1)]


def dirty_patch(tree: Path) -> SeriesPatch:
    """`git diff HEAD`: what the work tree changes, as a last patch."""
    text = git_output(tree, ["diff", "HEAD", "--no-color"], "--dirty")
    if not text.strip():
        raise UserError(f"--dirty: {tree} has no uncommitted changes")
    subject = "uncommitted changes (git diff HEAD)"
    # a header, as a mail has: the manifest and reports name patches by
    # the subject in the file (patch skips text before the diff)
    return SeriesPatch(subject, "", f"Subject: {subject}\n\n{text}".encode(), f"{tree} (git diff HEAD)")


def resolve_commit(tree: Path, ref: str, what: str) -> str:
    check_ref(ref, what)
    out = git_output(tree, ["rev-parse", "--verify", f"{ref}^{{commit}}"], f"{what} {ref!r}")
    return out.strip().splitlines()[-1]
