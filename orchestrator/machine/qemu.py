"""QEMU command lines from typed settings.

The same builder serves L1 (run on the host, sockets in a private folder)
and L2 (run inside L1, sockets on L1's loopback, reached through SSH).
QEMU starts paused (-S) so the console and QMP are attached before the
guest prints its first byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FW_CFG_PREFIX = "opt/orchestrator/"
READY_MARKER = "ORCHESTRATOR-READY"
BOOT_FAILED_MARKER = "ORCHESTRATOR-BOOT-FAILED"


def _opt(value: str) -> str:
    """QEMU option values escape a comma by doubling it."""
    return value.replace(",", ",,")


@dataclass(frozen=True)
class Endpoint:
    """A QEMU socket chardev: a unix path, or host:port for TCP."""

    path: str | None = None
    host: str | None = None
    port: int | None = None

    def chardev(self, ident: str) -> str:
        if self.path:
            return f"socket,id={ident},path={_opt(self.path)},server=on,wait=off"
        assert self.host and self.port
        return f"socket,id={ident},host={self.host},port={self.port},server=on,wait=off"


@dataclass(frozen=True)
class Drive:
    path: str
    readonly: bool = False
    snapshot: bool = False  # writes go to a temporary overlay; the file stays pristine

    def arg(self) -> str:
        opts = [f"file={_opt(self.path)}", "format=raw", "if=virtio", "cache=unsafe"]
        if self.readonly:
            opts.append("readonly=on")
        if self.snapshot:
            opts.append("snapshot=on")
        return ",".join(opts)


@dataclass(frozen=True)
class QemuSpec:
    name: str
    accel: str  # "tcg" or "kvm"
    cpu: str
    smp: int
    memory_mib: int
    kernel: str
    append: tuple[str, ...]
    console: Endpoint
    qmp: Endpoint
    ssh_port: int  # forwarded from 127.0.0.1 only
    drives: tuple[Drive, ...] = ()
    fw_cfg: tuple[tuple[str, str], ...] = ()  # (name under opt/orchestrator/, file)
    binary: str = "qemu-system-x86_64"
    extra: tuple[str, ...] = field(default=())
    watch: Endpoint | None = None  # a second QMP monitor, for the freeze watch only
    # a third that nothing in orchestrator holds: for a person at the
    # machine, or the fault injector, each with a connection of its own
    # (qemu.qmp's clients of one thread share its event loop)
    spare: Endpoint | None = None

    def argv(self) -> list[str]:
        accel = "kvm" if self.accel == "kvm" else "tcg"
        argv = [
            self.binary,
            "-name", self.name,
            "-nodefaults", "-no-user-config", "-display", "none",
            "-accel", accel,
            "-cpu", self.cpu,
            "-smp", str(self.smp),
            "-m", str(self.memory_mib),
            "-kernel", self.kernel,
            "-append", " ".join(self.append),
            "-chardev", self.console.chardev("console"),
            "-serial", "chardev:console",
            "-chardev", self.qmp.chardev("qmp"),
            "-mon", "chardev=qmp,mode=control",
            "-nic", f"user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22",
            "-device", "virtio-rng-pci",
            "-no-reboot",
            "-S",
        ]
        for ident, endpoint in (("watch", self.watch), ("spare", self.spare)):
            if endpoint is not None:
                argv += ["-chardev", endpoint.chardev(ident), "-mon", f"chardev={ident},mode=control"]
        for drive in self.drives:
            argv += ["-drive", drive.arg()]
        for name, path in self.fw_cfg:
            argv += ["-fw_cfg", f"name={FW_CFG_PREFIX}{name},file={_opt(path)}"]
        return argv + list(self.extra)


def kernel_cmdline(hostname: str, extra: tuple[str, ...] = (), *, quiet: bool = False) -> tuple[str, ...]:
    """The guest kernel command line: our init, panics that end the VM.

    `quiet` keeps warnings, oopses and panics on the console but drops the
    boot chatter: for L2 every console byte is a port-IO exit through two
    levels of virtualization, which costs seconds of boot under TCG."""
    words = [
        "console=ttyS0", "root=/dev/vda", "rw", "init=/sbin/orchestrator-init",
        "panic=-1", "oops=panic", f"orch.hostname={hostname}", "random.trust_cpu=on",
    ]
    if quiet:
        words.append("quiet")
    return (*words, *extra)
