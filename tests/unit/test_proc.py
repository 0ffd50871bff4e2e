from __future__ import annotations

import sys
import time

import pytest

from orchestrator import proc


def test_run_captures_and_tees(tmp_path):
    log = tmp_path / "out.log"
    seen = []
    r = proc.run([sys.executable, "-c", "print('a'); import sys; print('b', file=sys.stderr)"],
                 log=log, on_line=seen.append)
    assert r.returncode == 0 and "a" in r.output and "b" in r.output
    assert log.read_text() == r.output
    assert seen == ["a", "b"] or sorted(seen) == ["a", "b"]


def test_failure_carries_tail_and_log(tmp_path):
    with pytest.raises(proc.CommandFailed) as exc:
        proc.run([sys.executable, "-c", "print('boom'); raise SystemExit(3)"], log=tmp_path / "l")
    assert exc.value.returncode == 3 and "boom" in exc.value.tail and exc.value.log == tmp_path / "l"


def test_check_false_returns_code():
    assert proc.run(["false"], check=False).returncode == 1


def test_timeout_kills_the_whole_group(tmp_path):
    pidfile = tmp_path / "child.pid"
    # the shell starts a grandchild that would outlive a naive kill
    script = f"sleep 60 & echo $! > {pidfile}; wait"
    start = time.monotonic()
    with pytest.raises(proc.CommandTimeout):
        proc.run(["sh", "-c", script], timeout=1)
    assert time.monotonic() - start < 15
    grandchild = int(pidfile.read_text())
    time.sleep(0.2)
    assert not _alive(grandchild)


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for its new parent to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_shell_strings_are_refused():
    with pytest.raises(TypeError):
        proc.run("echo hi")  # type: ignore[arg-type]


def test_missing_program_is_infra_error():
    with pytest.raises(proc.InfraError):
        proc.run(["/nonexistent/program"])


def test_start_and_stop_group():
    p = proc.start(["sleep", "60"])
    assert p.poll() is None
    proc.stop_group(p, grace=1)
    assert p.poll() is not None
