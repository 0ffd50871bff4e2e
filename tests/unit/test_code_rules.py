"""Rules the code keeps: one subprocess helper, no shell strings, loopback only."""

from __future__ import annotations

import ast
import os
import re
import shutil
import stat
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "orchestrator"
SOURCES = {p: p.read_text() for p in PKG.rglob("*.py")}


def test_no_shell_true_or_os_system():
    for path, text in SOURCES.items():
        assert "shell=True" not in text, path
        assert not re.search(r"\bos\.(system|popen)\(", text), path


def test_subprocess_only_in_the_helper():
    users = {p.name for p, t in SOURCES.items() if re.search(r"subprocess\.(Popen|run|call|check_output)\(", t)}
    assert users <= {"proc.py"}, users


def test_forwarded_ports_bind_loopback():
    qemu = (PKG / "machine" / "qemu.py").read_text()
    assert "hostfwd=tcp:127.0.0.1:" in qemu
    tunnel = (PKG / "nested" / "tunnel.py").read_text()
    assert 'bind(("127.0.0.1", 0))' in tunnel


# --- security scans ----------------------------------------------------------

LOOPBACK = {"127.0.0.1", "::1"}
TREES = {p: ast.parse(t, str(p)) for p, t in SOURCES.items()}


def _calls(name: str) -> list[tuple[Path, ast.Call]]:
    """Every call of a function or method called `name`, across the package."""
    out = []
    for path, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                called = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
                if called == name:
                    out.append((path, node))
    return out


def _const(node: ast.AST | None) -> object:
    return node.value if isinstance(node, ast.Constant) else None


def test_no_shell_anywhere():
    shells = re.compile(r"\b(os\.(system|popen|exec\w*|spawn\w*)|subprocess\.(getoutput|getstatusoutput)"
                        r"|create_subprocess_shell|pty\.spawn)\(")
    for path, text in SOURCES.items():
        assert not shells.search(text), path
    for path, call in _calls("Popen") + _calls("run") + _calls("call") + _calls("check_output"):
        for kw in call.keywords:
            assert not (kw.arg == "shell" and _const(kw.value) is not False), f"{path}:{call.lineno}"


def test_every_hostfwd_binds_loopback():
    found = [(p, m) for p, t in SOURCES.items() for m in re.finditer(r"hostfwd=(\w+):([^:,\s\"']*):", t)]
    assert found, "no hostfwd= left: update this test"
    for path, m in found:
        assert m.group(2) == "127.0.0.1", f"{path}: {m.group(0)}"


def test_every_forward_local_binds_loopback():
    # tunnels are nested/tunnel.py's (bound by the kernel's choice of port,
    # on loopback: the bind test below checks it); fabric's forward_local,
    # whose port is chosen before it is bound, is not used
    for path, call in _calls("forward_local"):
        hosts = {kw.arg: _const(kw.value) for kw in call.keywords}
        assert hosts.get("local_host") == "127.0.0.1", f"{path}:{call.lineno}: forward_local without local_host=\"127.0.0.1\""
    assert _calls("Tunnel"), "no Tunnel( left: update this test"


def test_every_bind_is_loopback_or_a_unix_path():
    calls = _calls("bind")
    assert calls, "no .bind( left: update this test"
    for path, call in calls:
        (addr,) = call.args
        if isinstance(addr, ast.Tuple):
            assert _const(addr.elts[0]) in LOOPBACK, f"{path}:{call.lineno}: binds {ast.unparse(addr)}"
        else:  # a unix socket path: str(...), os.fspath(...) or a literal path
            ok = isinstance(addr, ast.Call) and ast.unparse(addr.func) in ("str", "os.fspath") \
                or isinstance(_const(addr), str) and str(_const(addr)).startswith("/")
            assert ok, f"{path}:{call.lineno}: cannot tell that {ast.unparse(addr)} is loopback or a unix path"


def test_qemu_tcp_sockets_are_loopback_and_nothing_listens_on_all_interfaces():
    for path, call in _calls("Endpoint"):
        host = {kw.arg: kw.value for kw in call.keywords}.get("host")
        assert host is None or _const(host) in LOOPBACK, f"{path}:{call.lineno}: Endpoint(host={ast.unparse(host)})"
    for path, text in SOURCES.items():
        assert "0.0.0.0" not in text and "INADDR_ANY" not in text, path


def test_private_dir_is_0700_and_removed(tmp_path):
    from orchestrator.machine.boot import private_dir

    with private_dir() as d:
        assert stat.S_IMODE(d.stat().st_mode) == 0o700 and d.stat().st_uid == os.getuid()
        (d / "qmp.sock").write_text("")
        kept = d
    assert not kept.exists()
    with pytest.raises(RuntimeError), private_dir() as d:
        kept = d
        raise RuntimeError
    assert not kept.exists()
    # and L1's sockets are made there, not in a shared folder
    boot = (PKG / "machine" / "boot.py").read_text()
    pair = (PKG / "nested" / "pair.py").read_text()
    assert "sockets = stack.enter_context(private_dir())" in pair and 'sockets / "qmp.sock"' in boot


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")
def test_per_run_keys_are_private(tmp_path):
    from orchestrator.machine.ssh import generate_keys

    folder = tmp_path / "run" / ".keys"
    keys = generate_keys(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for private in (keys.client, keys.host):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
    # a folder left with wider permissions (an older run) is tightened
    os.chmod(folder, 0o755)
    generate_keys(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_ssh_command_refuses_a_string():
    from orchestrator.machine.ssh import command

    with pytest.raises(TypeError):
        command("rm -rf /")  # type: ignore[arg-type]
    assert command(["echo", "a b"]) == "echo 'a b'"
