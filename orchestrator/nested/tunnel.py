"""A local TCP port on 127.0.0.1 forwarded over SSH to a port in L1, for
L2's console and QMP.

fabric's `forward_local` binds a port number chosen beforehand, and a port
that was free when chosen can be taken a moment later, by another run or
simply by the local end of any outgoing connection (they come from the same
range): the bind then fails inside fabric's thread and is only reported
when the tunnel closes, after the cell already failed. Here the listening
socket is bound to port 0, so the kernel picks a free port and it is ours
from that instant; nothing can take it.

Each accepted connection gets a direct-tcpip channel through L1's SSH
transport (its open bounded by the transport's channel timeout) and a
thread that copies bytes both ways until either end closes.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
from typing import Any

log = logging.getLogger(__name__)

POLL_S = 0.2  # how often the threads look at the stop flag
CHUNK = 65536


class Tunnel:
    def __init__(self, transport: Any, remote_port: int, remote_host: str = "127.0.0.1"):
        self.transport = transport
        self.remote = (remote_host, remote_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))  # loopback only, a port the kernel gives us
        self._listener.listen(4)
        self._listener.settimeout(POLL_S)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, name=f"tunnel-{remote_port}", daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, peer = self._listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            try:
                chan = self.transport.open_channel("direct-tcpip", self.remote, peer)
            except Exception as exc:  # paramiko: refused, timed out, transport gone
                log.debug("tunnel to %s: %r", self.remote, exc)
                sock.close()
                continue
            t = threading.Thread(target=self._pump, args=(sock, chan), name=f"tunnel-{self.remote[1]}-io", daemon=True)
            self._threads.append(t)
            t.start()

    def _pump(self, sock: socket.socket, chan: Any) -> None:
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([sock, chan], [], [], POLL_S)
                if sock in ready:
                    data = sock.recv(CHUNK)
                    if not data:
                        return
                    chan.sendall(data)
                if chan in ready:
                    data = chan.recv(CHUNK)
                    if not data:
                        return
                    sock.sendall(data)
        except (OSError, EOFError, Exception) as exc:  # either end gone: the tunnel's user sees EOF
            log.debug("tunnel to %s: %r", self.remote, exc)
        finally:
            with contextlib.suppress(Exception):
                chan.close()
            with contextlib.suppress(OSError):
                sock.close()

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        for t in (self._accepting, *self._threads):
            t.join(timeout=2 * POLL_S + 1)

    def __enter__(self) -> Tunnel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
