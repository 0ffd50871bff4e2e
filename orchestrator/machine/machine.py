"""L1: one QEMU process on this host, owned from launch to teardown.

`__init__` only stores settings; `launch()` starts QEMU paused, attaches the
console and QMP, then continues it (and starts L1's freeze watch);
`wait_ready()` waits for the init's marker and SSH; `shutdown()` tries QMP
system_powerdown, then quit, then kills, and always cleans up.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path
from typing import IO, Any

import fabric

from orchestrator import proc
from orchestrator.machine import live, ssh
from orchestrator.machine.freeze import FreezeWatch
from orchestrator.machine.guest import Guest, MachineError, connect_socket
from orchestrator.machine.qemu import QemuSpec


class Machine(Guest):
    """L1: a QEMU process on this host, sockets in a private 0700 folder."""

    def __init__(self, spec: QemuSpec, folder: Path, keys: ssh.Keys, **kw: Any):
        super().__init__("L1", spec, folder, keys, **kw)
        self.process: subprocess.Popen | None = None
        self._stderr: IO[bytes] | None = None
        self.watch: FreezeWatch | None = None

    @property
    def qmp_path(self) -> Path:
        return Path(str(self.spec.qmp.path))

    @property
    def console_path(self) -> Path:
        return Path(str(self.spec.console.path))

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _ssh_endpoint(self) -> tuple[str, int, fabric.Connection | None]:
        return "127.0.0.1", self.spec.ssh_port, None

    def exit_detail(self) -> str:
        if self.process is None or self.process.poll() is None:
            return ""
        tail = (self.folder / "qemu-stderr.log").read_text(errors="replace").strip()[-800:]
        return f" (exit code {self.process.returncode}){': ' + tail if tail else ''}"

    def launch(self) -> None:
        self._expect_state("created")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._launched_at = time.monotonic()
        argv = self.spec.argv()
        (self.folder / "qemu-argv.txt").write_text("\n".join(argv) + "\n")
        self._stderr = open(self.folder / "qemu-stderr.log", "ab")
        try:
            self.process = proc.start(argv, stdout=self._stderr, stderr=self._stderr)
            live.add_process(self.process)
            deadline = time.monotonic() + 30
            console = connect_socket(str(self.console_path), deadline, self.alive)
            while not self.qmp_path.exists():  # qemu.qmp connects by itself
                if time.monotonic() > deadline or not self.alive():
                    raise OSError(f"no QMP socket at {self.qmp_path}")
                time.sleep(0.05)
            self._attach(console, str(self.qmp_path))
            self._watch_freezes()
        except BaseException as exc:
            detail = self.exit_detail() or f": {exc!r}"
            self.shutdown()
            if isinstance(exc, (KeyboardInterrupt, MachineError)):
                raise
            raise MachineError("L1", "launch", f"QEMU did not start{detail}", argv=argv, console_tail=self.console.tail()) from exc

    def _watch_freezes(self) -> None:
        if self.spec.watch is None or self.spec.watch.path is None:
            return
        self.watch = FreezeWatch(self.spec.watch.path, self._frozen, name=self.level)
        self.watch.start()

    def _frozen(self, status: str) -> None:
        """From the freeze watch's thread: mark, then cut SSH under whoever
        waits on it. L2's SSH, console and QMP all ride on this connection
        (gateway and tunnels), so their waits end too."""
        self.frozen = status
        self.console.note(f"frozen: QEMU status {status!r}; SSH cut")
        ssh.close_transport(self.conn)

    def _expect_running(self, running: bool) -> None:
        if self.watch is not None:
            self.watch.expect(running)

    # -- snapshots: warm start ----------------------------------------------

    def hmp(self, command_line: str) -> str:
        """An HMP command through QMP; savevm/loadvm report errors as text."""
        out = str(self.qmp("human-monitor-command", **{"command-line": command_line}) or "")
        if out.strip():
            raise self.fail("snapshot", f"{command_line}: {out.strip()[-500:]}")
        return out

    def save_snapshot(self, tag: str) -> float:
        """Pause and save the whole machine as `tag`: RAM, devices and the
        disks' overlays (the rootfs is opened with snapshot=on, so its
        temporary qcow2 holds the state; read-only disks need none). SSH is
        closed first: a session saved half-open would come back a ghost."""
        self._expect_state("ready")
        start = time.monotonic()
        self.disconnect_ssh()
        self._expect_running(False)  # paused until a cell restores it
        self.qmp("stop")
        self.hmp(f"savevm {tag}")
        self.state = "paused"
        return time.monotonic() - start

    def restore_snapshot(self, tag: str) -> float:
        """Back to `tag` and running, SSH connected afresh."""
        self._expect_state("ready", "paused")
        start = time.monotonic()
        self.disconnect_ssh()
        self._expect_running(False)
        self.qmp("stop")
        self.hmp(f"loadvm {tag}")
        self.qmp("cont")
        self.frozen = None  # a freeze of the machine before the restore is gone with it
        self._expect_running(True)
        self.state = "ready"
        self._connect_ssh(deadline=time.monotonic() + self.ssh_timeout)
        return time.monotonic() - start

    def mark_console(self, text: str) -> None:
        """A host-side line in the console log, between cells that share L1."""
        self.console.note(text)

    def shutdown(self) -> None:
        """Power down, quit, kill: whatever it takes; always clean up."""
        start = time.monotonic()
        powerdown_timeout = self.powerdown_timeout
        if self.watch is not None:
            self.watch.stop()
        try:
            if self.alive() and self.qmp_client is not None:
                # a paused guest would not see the power button: straight to quit
                if self.state != "paused":
                    with contextlib.suppress(Exception):
                        self.qmp_client.cmd("system_powerdown")
                        self.process.wait(timeout=powerdown_timeout)  # type: ignore[union-attr]
                if self.alive():
                    with contextlib.suppress(Exception):
                        self.qmp_client.cmd("quit")
                        self.process.wait(timeout=5)  # type: ignore[union-attr]
        finally:
            if self.process is not None:
                proc.stop_group(self.process, grace=3)
                live.discard_process(self.process)
            self._close_channels()
            if self._stderr:
                self._stderr.close()
            extra = [e.path for e in (self.spec.watch, self.spec.spare) if e is not None and e.path]
            for path in (self.qmp_path, self.console_path, *map(Path, extra)):
                path.unlink(missing_ok=True)
            self.state = "stopped"
            self.timings["teardown_s"] = time.monotonic() - start

    def __enter__(self) -> Machine:
        self.launch()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
