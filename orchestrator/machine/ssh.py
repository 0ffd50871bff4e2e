"""Per-run SSH keys and fabric connections that trust only that run's host key.

Both key pairs are made fresh for each run (mode 0600, in the run's private
folder) and reach the guest through fw_cfg; nothing is baked into an image.
Commands go over SSH as argv joined with shlex quoting, so no config value
is ever parsed by the remote shell.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shlex
import threading
from collections.abc import Iterator, Sequence
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


# Opening a channel waits for the guest's answer; paramiko's own bound is an
# hour. A guest that takes this long to answer a channel open is frozen.
CHANNEL_OPEN_S = 30.0


class Connection(fabric.Connection):
    """fabric's Connection with a bound on every channel open (sessions,
    SFTP, the direct-tcpip channels of tunnels and of a gateway), and on
    any paramiko wait through `deadline`."""

    channel_open_s = CHANNEL_OPEN_S

    def open(self) -> object:
        result = super().open()
        if self.transport is not None:
            self.transport.channel_timeout = self.channel_open_s
        return result


def close_transport(conn: fabric.Connection | None) -> None:
    """Cut a connection under whoever waits on it: every paramiko wait on its
    channels (exec, subsystem, recv) ends with an error at once. Safe from
    any thread; the next `run` on `conn` connects afresh."""
    if conn is None:
        return
    transport = conn.client.get_transport()
    if transport is not None:
        with contextlib.suppress(Exception):
            transport.close()


@contextlib.contextmanager
def deadline(conn: fabric.Connection, seconds: float) -> Iterator[threading.Event]:
    """Bound a block of SSH work on `conn`: past `seconds`, its transport is
    cut and the event is set. Needed because paramiko waits without any
    bound for a channel's exec or subsystem reply, which a frozen guest
    never sends; invoke's own timeout starts only once the command runs."""
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        close_transport(conn)

    timer = threading.Timer(seconds, cut)
    timer.daemon = True
    timer.start()
    try:
        yield expired
    finally:
        timer.cancel()


def connect(
    host: str, port: int, keys: Keys, *, gateway: fabric.Connection | None = None, timeout: float = 10,
    channel_open_s: float = CHANNEL_OPEN_S,
) -> Connection:
    """A root connection that rejects any host key but this run's."""
    config = fabric.Config(overrides={"load_ssh_configs": False, "run": {"hide": True, "warn": True, "in_stream": False}})
    conn = Connection(
        host, user="root", port=port, config=config, gateway=gateway, connect_timeout=timeout,
        connect_kwargs={
            "key_filename": str(keys.client), "look_for_keys": False, "allow_agent": False,
            "banner_timeout": timeout, "auth_timeout": timeout,
        },
    )
    conn.channel_open_s = channel_open_s
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    known = host if port == 22 else f"[{host}]:{port}"
    conn.client.get_host_keys().add(known, "ssh-ed25519", keys.host_public_key())
    return conn


def command(argv: Sequence[str]) -> str:
    """argv as one remote command line, every word quoted."""
    if isinstance(argv, str):
        raise TypeError("pass argv as a list, not a string")
    return shlex.join(argv)
