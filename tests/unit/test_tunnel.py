"""nested/tunnel.py against a fake SSH transport whose channels are plain
sockets to an echo server: bytes both ways, several connections, a port no
one can take between choosing and binding it, and a clean close."""

from __future__ import annotations

import socket
import threading

from orchestrator.nested.tunnel import Tunnel


def _echo_server() -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=lambda c=conn: [c.sendall(d) for d in iter(lambda: c.recv(4096), b"")],
                             daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


class FakeTransport:
    def __init__(self, port: int):
        self.port = port
        self.opened: list[tuple] = []

    def open_channel(self, kind, dest, src):
        self.opened.append((kind, dest))
        return socket.create_connection(("127.0.0.1", self.port))


def test_bytes_go_both_ways_through_the_tunnel():
    srv, port = _echo_server()
    transport = FakeTransport(port)
    with Tunnel(transport, 4444) as tunnel:
        assert tunnel.port != 0
        for text in (b"hello", b"again"):  # one channel per connection
            with socket.create_connection(("127.0.0.1", tunnel.port), timeout=5) as c:
                c.sendall(text)
                assert c.recv(100) == text
    assert transport.opened == [("direct-tcpip", ("127.0.0.1", 4444))] * 2
    srv.close()


def test_the_port_is_bound_before_anyone_can_take_it():
    srv, port = _echo_server()
    with Tunnel(FakeTransport(port), 4555) as tunnel:
        other = socket.socket()
        try:
            other.bind(("127.0.0.1", tunnel.port))
            raise AssertionError("the tunnel's port could be taken")
        except OSError:
            pass
        finally:
            other.close()
    srv.close()


def test_close_ends_every_thread_and_frees_the_port():
    srv, port = _echo_server()
    tunnel = Tunnel(FakeTransport(port), 4444)
    c = socket.create_connection(("127.0.0.1", tunnel.port), timeout=5)
    c.sendall(b"x")
    assert c.recv(10) == b"x"
    tunnel.close()
    assert not any(t.is_alive() for t in (tunnel._accepting, *tunnel._threads))
    assert c.recv(10) == b""  # the user sees the end
    c.close()
    srv.close()
