"""L2's QEMU memory and vCPUs: `l2.memory_mib`, `l2.cpus`, `l2.prealloc`,
`l2.backing` (anon, thp, or hugetlb: 2 MiB pages reserved in L1).

They become L2's machine settings (see nested/l2.py for the QEMU options)
and are read back through L2's QMP (`query-memdev`, `query-cpus-fast`,
the backend's QOM type) and L1's /proc/meminfo, or the L2 QEMU's own
resident memory in L1 for preallocation.
"""

from __future__ import annotations

from typing import Any

from orchestrator.knobs.base import Guest, Kind, Scalar, Stage, Values, read, selected, text, write

HUGEPAGES_MOUNT = "/dev/hugepages"
HUGEPAGE_KIB = 2048
KNOBS: dict[str, tuple[Values, str]] = {  # name -> (values, field of L2's machine settings)
    "l2.memory_mib": (Values(integer=(128, 262144)), "memory_mib"),
    "l2.cpus": (Values(integer=(1, 64)), "cpus"),
    "l2.prealloc": (Values(boolean=True), "prealloc"),
    "l2.backing": (Values(choices=("anon", "thp", "hugetlb")), "backing"),
}


def meminfo(l1: Guest) -> dict[str, int]:
    out = {}
    for line in read(l1, "/proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        if rest.split():
            out[key.strip()] = int(rest.split()[0])
    return out


def memdevs(l2: Guest) -> list[dict[str, Any]]:
    devs = list(l2.qmp("query-memdev") or [])
    if not devs:
        raise l2.fail("knob", "L2's QEMU reports no memory backend (query-memdev)")
    return devs


class L2Memory(Kind):
    name = "l2-memory"

    def names(self) -> tuple[str, ...]:
        return tuple(KNOBS)

    def values(self, knob: str) -> Values:
        return KNOBS[knob][0]

    def stage(self, knob: str) -> Stage:
        return "l2-boot"

    def l2_settings(self, knob: str, value: Scalar) -> dict[str, Any]:
        return {KNOBS[knob][1]: value}

    def apply(self, l1: Guest, knob: str, value: Scalar, l2cfg: Any) -> None:
        if knob != "l2.backing" or value != "hugetlb":
            return
        pages = -(-l2cfg.memory_mib * 1024 // HUGEPAGE_KIB)
        read(l1, "/proc/sys/vm/nr_hugepages")  # absent: L1's kernel has no hugetlbfs
        write(l1, "/proc/sys/vm/nr_hugepages", str(pages))
        total = meminfo(l1).get("HugePages_Total", 0)
        if total < pages:
            raise l1.fail("knob", f"L1 reserved {total} of the {pages} 2 MiB pages L2's memory needs")
        if l1.run(["mountpoint", "-q", HUGEPAGES_MOUNT], timeout=30).exit_code != 0:
            l1.run(["mkdir", "-p", HUGEPAGES_MOUNT], timeout=30, check=True)
            l1.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "hugetlbfs", HUGEPAGES_MOUNT], timeout=30, check=True)

    def in_force_l2(self, l1: Guest, l2: Guest, knob: str, value: Scalar, l2cfg: Any) -> str:
        devs = memdevs(l2)
        if knob == "l2.cpus":
            got: Any = len(l2.qmp("query-cpus-fast"))
        elif knob == "l2.memory_mib":
            got = sum(int(d["size"]) for d in devs) >> 20
        elif knob == "l2.prealloc":
            got = all(d.get("prealloc") for d in devs)
            if got:
                self._resident(l1, l2, l2cfg)
        else:
            return self._backing(l1, l2, str(value), devs, l2cfg)
        if got != value:
            raise l2.fail("knob", f"{knob} is {got} in L2's QEMU, the cell asks for {value}")
        return f"{knob}={text(got)} (QMP)"

    def _resident(self, l1: Guest, l2: Guest, l2cfg: Any) -> None:
        """Preallocated anonymous memory is resident in L1 before L2 runs anything."""
        if l2cfg.backing == "hugetlb":
            return  # hugetlb pages are not in RSS; _backing counts them
        pid = getattr(l2, "pid", None)
        status = read(l1, f"/proc/{pid}/status")
        rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("RssAnon:")), 0)
        if rss < l2cfg.memory_mib * 1024 * 0.9:
            raise l2.fail("knob", f"L2's QEMU has {rss} KiB of anonymous memory resident in L1, "
                                  f"less than the {l2cfg.memory_mib} MiB preallocated")

    def _backing(self, l1: Guest, l2: Guest, value: str, devs: list[dict[str, Any]], l2cfg: Any) -> str:
        dev = devs[0]["id"]
        kind = l2.qmp("qom-get", path=f"/objects/{dev}", property="type")
        want_type = "memory-backend-file" if value == "hugetlb" else "memory-backend-ram"
        if kind != want_type:
            raise l2.fail("knob", f"L2's memory backend is {kind}, l2.backing={value} needs {want_type}")
        if value == "hugetlb":
            info = meminfo(l1)
            used = info.get("HugePages_Total", 0) - info.get("HugePages_Free", 0) + info.get("HugePages_Rsvd", 0)
            need = l2cfg.memory_mib * 1024 // HUGEPAGE_KIB
            if used < need:
                raise l2.fail("knob", f"L1 shows {used} 2 MiB pages in use or reserved, L2's memory needs {need}")
            return f"l2.backing=hugetlb ({used} hugetlb pages in L1)"
        if value == "thp":
            enabled = selected(read(l1, "/sys/kernel/mm/transparent_hugepage/enabled"))
            if enabled == "never":
                raise l2.fail("knob", "l2.backing=thp, but THP is never in L1")
            huge = meminfo(l1).get("AnonHugePages", 0)
            if l2cfg.prealloc and huge < l2cfg.memory_mib * 1024 // 2:
                raise l2.fail("knob", f"L1 has {huge} KiB AnonHugePages: L2's preallocated memory is not THP-backed")
            return f"l2.backing=thp (THP {enabled}, AnonHugePages {huge} KiB in L1)"
        return f"l2.backing=anon ({kind})"


KIND = L2Memory()
