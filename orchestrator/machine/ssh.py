"""Per-run SSH keys and fabric connections that trust only that run's host key.

Both key pairs are made fresh for each run (mode 0600, in the run's private
folder) and reach the guest through fw_cfg; nothing is baked into an image.
Commands go over SSH as argv joined with shlex quoting, so no config value
is ever parsed by the remote shell.
"""

from __future__ import annotations

import base64
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import fabric
import paramiko

from orchestrator import proc


@dataclass(frozen=True)
class Keys:
    client: Path  # private key the host logs in with
    client_pub: Path  # goes to the guest's authorized_keys
    host: Path  # the guest's sshd host key (private, goes to the guest)
    host_pub: Path  # what the host trusts

    def host_public_key(self) -> paramiko.PKey:
        kind, blob = self.host_pub.read_text().split()[:2]
        return paramiko.Ed25519Key(data=base64.b64decode(blob)) if kind == "ssh-ed25519" else paramiko.PKey.from_type_string(kind, base64.b64decode(blob))


def generate_keys(folder: Path) -> Keys:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    paths = {}
    for name in ("client", "host"):
        key = folder / f"{name}_ed25519"
        for p in (key, key.with_suffix(".pub")):
            p.unlink(missing_ok=True)
        proc.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"orchestrator-{name}", "-f", str(key)], timeout=60)
        os.chmod(key, 0o600)
        paths[name] = key
    return Keys(paths["client"], paths["client"].with_name("client_ed25519.pub"),
                paths["host"], paths["host"].with_name("host_ed25519.pub"))


def connect(
    host: str, port: int, keys: Keys, *, gateway: fabric.Connection | None = None, timeout: float = 10,
) -> fabric.Connection:
    """A root connection that rejects any host key but this run's."""
    config = fabric.Config(overrides={"load_ssh_configs": False, "run": {"hide": True, "warn": True, "in_stream": False}})
    conn = fabric.Connection(
        host, user="root", port=port, config=config, gateway=gateway, connect_timeout=timeout,
        connect_kwargs={
            "key_filename": str(keys.client), "look_for_keys": False, "allow_agent": False,
            "banner_timeout": timeout, "auth_timeout": timeout,
        },
    )
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    known = host if port == 22 else f"[{host}]:{port}"
    conn.client.get_host_keys().add(known, "ssh-ed25519", keys.host_public_key())
    return conn


def command(argv: Sequence[str]) -> str:
    """argv as one remote command line, every word quoted."""
    if isinstance(argv, str):
        raise TypeError("pass argv as a list, not a string")
    return shlex.join(argv)
