"""Rules the code keeps: one subprocess helper, no shell strings, loopback only."""

from __future__ import annotations

import re
from pathlib import Path

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
    l2 = (PKG / "nested" / "l2.py").read_text()
    assert 'local_host="127.0.0.1"' in l2
