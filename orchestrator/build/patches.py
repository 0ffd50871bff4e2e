"""Patches as a reviewer names them: subject and author next to file and hash.

A patch written by `git format-patch` is a mail: its `Subject:` and `From:`
headers say what it is and who wrote it. One place reads them, for the
manifest (every kernel's patches) and for `orchestrator ab` (a series given
as files or as one mbox), so both name a patch the same way.
"""

from __future__ import annotations

import email
import mailbox
import re
from dataclasses import dataclass
from email import policy
from pathlib import Path

from orchestrator.build.cache import sha256_file
from orchestrator.errors import UserError

# "[PATCH v2 03/10] " and friends, possibly several ("[RFC][PATCH] ")
_PREFIX = re.compile(r"^\s*(\[[^\]]*\]\s*)+")
_NUMBER = re.compile(r"\b0+/\d+\s*\]")  # "0/3]": a cover letter's number
# headers are read from the start of a file only: a patch's mail header is
# small, and a large file must not be read whole to name it
_HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class PatchInfo:
    """One patch: what the manifest and every report say about it."""

    file: str  # the file name
    sha256: str
    subject: str  # "" when the file carries no mail header
    author: str

    def as_json(self) -> dict[str, str]:
        return {"file": self.file, "sha256": self.sha256, "subject": self.subject, "author": self.author}


@dataclass(frozen=True)
class MailPatch:
    """One message of a series mbox, with its bytes as the mbox held them."""

    subject: str
    author: str
    text: bytes


def clean_subject(raw: str) -> str:
    """The subject without the "[PATCH n/m]" tags, on one line."""
    return _PREFIX.sub("", " ".join(raw.split())).strip()


def _headers(head: bytes) -> tuple[str, str]:
    msg = email.message_from_bytes(head, policy=policy.default)
    subject = str(msg.get("subject", "") or "")
    author = str(msg.get("from", "") or "")
    return clean_subject(subject), " ".join(author.split())


def describe(path: Path) -> PatchInfo:
    """A patch file's name, hash, subject and author (empty without headers:
    a plain diff names nothing)."""
    with open(path, "rb") as f:
        head = f.read(_HEAD_BYTES)
    # a format-patch file starts with the mbox "From <sha> <date>" line
    body = head.split(b"\n", 1)[1] if head.startswith(b"From ") else head
    # a plain diff has no header block: the parser stops at its first line
    subject, author = _headers(body.split(b"\n\n", 1)[0] + b"\n\n")
    return PatchInfo(path.name, sha256_file(path), subject, author)


def describe_all(paths: tuple[str, ...] | list[str]) -> list[dict[str, str]]:
    return [describe(Path(p)).as_json() for p in paths]


def is_patch(text: bytes) -> bool:
    """A message holds a change: a diff header pair (a cover letter has none)."""
    return b"\n--- " in text and b"\n+++ " in text or text.startswith(b"diff --git") or b"\ndiff --git " in text


def _is_cover(raw_subject: str) -> bool:
    match = _PREFIX.match(" ".join(raw_subject.split()))
    return bool(match and _NUMBER.search(match.group(0)))


def split_mbox(path: Path) -> list[MailPatch]:
    """A series as `git format-patch --stdout` writes it, one patch per
    message in order; a cover letter ("[PATCH 0/N]", or no diff) is left
    out. No patch at all is the user's mistake."""
    box = mailbox.mbox(str(path), create=False)
    out: list[MailPatch] = []
    try:
        for key in box.keys():
            body = box.get_bytes(key)
            msg = email.message_from_bytes(body, policy=policy.default)
            raw_subject = str(msg.get("subject", "") or "")
            if _is_cover(raw_subject) or not is_patch(body):
                continue
            from_line = box.get_message(key).get_from()
            subject, author = _headers(body.split(b"\n\n", 1)[0] + b"\n\n")
            out.append(MailPatch(subject, author, b"From " + from_line.encode() + b"\n" + body))
    finally:
        box.close()
    if not out:
        raise UserError(f"{path}: no patch in it (an mbox as `git format-patch --stdout` writes it holds one per message)")
    return out


def looks_like_mbox(path: Path) -> bool:
    """A file that starts with an mbox "From " line (git format-patch output)."""
    with open(path, "rb") as f:
        return f.read(5) == b"From "


def slug(subject: str, limit: int = 52) -> str:
    """A file name from a subject, as git format-patch makes one."""
    words = re.sub(r"[^A-Za-z0-9._]+", "-", subject).strip("-.")
    return (words[:limit].rstrip("-.") or "patch")
