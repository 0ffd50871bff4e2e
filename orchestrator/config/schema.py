"""The typed, frozen shape of experiments and recipes.

pydantic does the type checking (strict: "2" is not an int) and rejects
unknown keys; `load.py` turns its errors into file:line messages and adds
the cross-checks that need the project tree (recipes, workloads).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WrapSerializer

Name = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=64)
]
Scalar = str | int | float | bool
# a knob's name (knobs/): `kvm.tdp_mmu`, `thp.enabled`, `l2.prealloc`...
KnobName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$", max_length=64)]
ArgValue = Scalar | tuple[str, ...]
OnOff = Literal["on", "off"]


def _frozen_map(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


def _unique(value: tuple[Any, ...]) -> tuple[Any, ...]:
    seen = set()
    for item in value:
        if item in seen:
            raise ValueError(f"{item!r} is listed twice")
        seen.add(item)
    return value


EMPTY: Any = Field(default_factory=lambda: MappingProxyType({}))


def FrozenMap(value_type: Any, key_type: Any = str) -> Any:  # noqa: N802 - reads as a type
    return Annotated[
        Mapping[key_type, value_type], AfterValidator(_frozen_map),
        WrapSerializer(lambda value, handler: handler(dict(value))),
    ]


def UniqueTuple(item_type: Any, min_length: int = 0) -> Any:  # noqa: N802
    return Annotated[tuple[item_type, ...], Field(min_length=min_length), AfterValidator(_unique)]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


# --- experiments (configs/*.yaml) -------------------------------------------


# A recipe file given by path instead of by name in kernels/ (how a run
# folder's own recipes are used, e.g. those `orchestrator ab` writes):
# relative to the config file that says it; loading makes it absolute.
RecipePath = Annotated[str, StringConstraints(pattern=r"^[^\x00]*/[^\x00/]+\.yaml$", max_length=4096)]


class KernelVariant(Model):
    recipe: Name | RecipePath
    description: str = ""


class L1Machine(Model):
    image: Name = "l1"
    cpus: int = Field(1, ge=1, le=64)
    memory_mib: int = Field(2048, ge=256, le=262144)
    accel: Literal["auto", "tcg", "kvm"] = "auto"
    cpu_model: str | None = None  # None: decided by the accelerator
    cmdline: tuple[str, ...] = ()
    boot_timeout_s: float = Field(180.0, gt=0)


class L2Machine(Model):
    image: Name = "l2"
    kernel: Name = "upstream"  # one L2 kernel for every variant: isolates L1's KVM
    cpus: int = Field(1, ge=1, le=64)
    memory_mib: int = Field(512, ge=128, le=262144)
    cmdline: tuple[str, ...] = ()
    boot_timeout_s: float = Field(240.0, gt=0)
    # usually set by the knobs l2.prealloc and l2.backing, which also check them
    prealloc: bool = False
    backing: Literal["anon", "thp", "hugetlb"] | None = None  # None: QEMU's plain -m


class Machines(Model):
    l1: L1Machine = L1Machine()
    l2: L2Machine = L2Machine()


class HostFile(Model):
    """A file of this host copied into the guest before the workload runs."""

    src: str  # relative to the config file; loading makes it absolute
    dest: Annotated[str, StringConstraints(pattern=r"^/[^\x00]*[^/]$", max_length=4096)]
    mode: Annotated[str, StringConstraints(pattern=r"^0[0-7]{3}$")] = "0644"


class WorkloadDef(Model):
    kind: Name | None = None  # registry name; defaults to the key it is defined under
    args: FrozenMap(ArgValue) = EMPTY
    timeout_s: float | None = Field(None, gt=0)
    # l1: for programs that drive L1's KVM themselves (L2 still runs, measured as ever);
    # None: the workload's own (L1 for the kernel's selftests, L2 for the others)
    level: Literal["l2", "l1"] | None = None
    files: tuple[HostFile, ...] = ()


class Matrix(Model):
    tdp: UniqueTuple(OnOff, 1) = ("on", "off")
    workload: UniqueTuple(Name, 1)
    params: FrozenMap(UniqueTuple(Scalar, 1), Name) = EMPTY
    knobs: FrozenMap(UniqueTuple(Scalar, 1), KnobName) = EMPTY  # each value a cell coordinate


class Expectation(Model):
    metric: Annotated[str, StringConstraints(pattern=r"^[a-z_]+\.[A-Za-z0-9_.:-]+$")]
    change: Literal["decrease", "increase", "none"]
    when: FrozenMap(Scalar) = EMPTY
    min_effect_pct: float = Field(5.0, ge=0)
    # an absolute floor, in the metric's units, for counts near zero
    min_effect_abs: float = Field(0.0, ge=0)
    name: str | None = None
    # the patch's changed code must have run in the matching cell groups
    # (a coverage pass: orchestrator coverage, or run --coverage)
    exercised: bool = False


class Experiment(Model):
    name: Name
    description: str = ""
    # variant and workload names end up in cell ids, hence in file names
    kernels: Annotated[FrozenMap(KernelVariant, Name), Field(min_length=1)]
    machines: Machines = Machines()
    workloads: FrozenMap(WorkloadDef, Name) = EMPTY
    matrix: Matrix
    knobs: FrozenMap(Scalar, KnobName) = EMPTY  # set once for every cell, not a coordinate
    repetitions: int = Field(3, ge=1, le=1000)
    collectors: UniqueTuple(Name) = ("kvm-debugfs", "kvm-stat", "perf-stat", "perf-kvm-stat", "timings")
    # snapshot: L1+L2 booted once per kernel x tdp, restored for every cell;
    # boot: every cell boots its own (slower; nothing shared but the host)
    start: Literal["snapshot", "boot"] = "snapshot"
    # snapshot: how many L1s each kernel x tdp group boots, its repetitions
    # spread over them (None: one a repetition). The boot is what varies
    # from run to run, so the statistics take one sample per boot
    # (docs/statistics.md); fewer saves boots and loses samples.
    templates: int | None = Field(None, ge=1, le=1000)
    expectations: tuple[Expectation, ...] = ()
    # the kernel's KVM selftests, run in L1 before the cells (None: no gate)
    gate: Gate | None = None


# --- kernel recipes (kernels/*.yaml) ---------------------------------------


class KernelSource(Model):
    debian_package: Name | None = None  # /usr/src/<package>.tar.xz
    tarball: str | None = None  # relative to kernels/
    git: str | None = None  # a local kernel tree
    ref: str | None = None


class KernelRecipe(Model):
    description: str = ""
    source: KernelSource = KernelSource(debian_package="linux-source-6.1")
    base_config: str = "tinyconfig"  # a make target, or a file relative to kernels/
    fragments: UniqueTuple(str) = ()  # files in kernels/fragments/
    # applied in this order: a bare file name is in kernels/patches/, a path
    # is absolute or relative to the recipe file; loading makes them absolute
    patches: UniqueTuple(str) = ()
    target: Literal["bzImage"] = "bzImage"


# --- image recipes (images/*.yaml) -----------------------------------------


class ImageFile(Model):
    src: str  # relative to images/
    dest: Annotated[str, StringConstraints(pattern=r"^/[^\x00]*$")]
    mode: Annotated[str, StringConstraints(pattern=r"^0[0-7]{3}$")] = "0644"


class ImageRecipe(Model):
    description: str = ""
    release: Name = "bookworm"
    variant: Literal["minbase", "essential", "apt", "required", "important", "standard"] = "minbase"
    packages: UniqueTuple(Name) = ()
    files: tuple[ImageFile, ...] = ()
    init: str = "init/orchestrator-init"
    workloads: bool = False  # compile images/workloads/ into /usr/local/bin
    kvm_stat: Name | None = None  # a kernel recipe whose source gives tools/kvm/kvm_stat/kvm_stat
    size_mib: int | None = Field(None, ge=64)  # None: fit the content


# --- the correctness gate (experiment key `gate:`) --------------------------

# a selftest by its file name (the folder moved between kernel versions)
TestName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=128)]
GateArg = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$", max_length=4096)]


class GateTest(Model):
    args: tuple[GateArg, ...] = ()
    timeout_s: float | None = Field(None, gt=0, le=86400)  # None: the gate's timeout_s


class Gate(Model):
    # None: the default set (config/gate.py), which covers the MMU and
    # finishes under TCG
    tests: FrozenMap(GateTest, TestName) | None = None
    timeout_s: float = Field(600.0, gt=0, le=86400)
