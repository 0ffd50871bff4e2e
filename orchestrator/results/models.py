"""A run's manifest and cell records as typed models, built and validated
in one place, with a schema version.

A results folder may come from elsewhere (a CI artifact, a colleague's
disk), so every field that diff, merge and --resume read is checked before
it is used: a foreign or damaged file is refused with its path and the key
at fault, never with a traceback. Unknown keys are kept (extra="allow"):
the models check what the tool reads and carry the rest.

Schema 1: records without provenance. Schema 2: each record carries the
accelerator, host CPU, QEMU version and artifact keys it was measured with.
A schema 1 run still loads; its records read as provenance "not recorded".
A record may also carry `boot`, the L1 boot it was measured in (older
records have none): the statistics' unit (docs/statistics.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from orchestrator.errors import UserError

SCHEMA = 2
READABLE = (1, 2)
CHANGES = ("decrease", "increase", "none")
# The same rule as config names: one path component, no separator, no `..`
# on its own, nothing a shell would read specially.
SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
Scalar = str | bool | int | float


def _safe(value: str) -> str:
    if not SAFE.match(value):
        raise ValueError("only letters, digits and . _ - are allowed, starting with a letter or digit")
    return value


def _rep(value: int | str) -> int | str:
    if isinstance(value, str) and not value.isdigit():
        raise ValueError("expected a repetition number")
    return value


def _pair(value: list[int]) -> list[int]:
    if len(value) != 2:
        raise ValueError(f"expected [i, n], got {value}")
    return value


SafeName = Annotated[str, AfterValidator(_safe)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow", strict=True, populate_by_name=True)


class Expectation(_Model):
    metric: str
    change: Literal["decrease", "increase", "none"]
    when: dict[str, Scalar] = {}
    min_effect_pct: float = 5.0
    min_effect_abs: float = 0.0
    name: str | None = None
    exercised: bool = False


class ResolvedConfig(_Model):
    expectations: list[Expectation] = []


class PlanInfo(_Model):
    cells: list[SafeName] = []
    total: int | None = None
    shard: Annotated[list[int], AfterValidator(_pair)] | None = None


class Patch(_Model):
    file: str = ""
    sha256: str = ""
    subject: str | None = None
    author: str | None = None


class Artifact(_Model):
    recipe: str | None = None
    key: str | None = None


class KernelArtifact(Artifact):
    patches: list[Patch] = []


class Artifacts(_Model):
    kernels: dict[str, KernelArtifact] = {}
    images: dict[str, Artifact] = {}
    l2_kernel: Artifact = Artifact()
    payload: str | None = None


class Accel(_Model):
    accel: str | None = None
    cpu_model: str | None = None
    reason: str | None = None


class Host(_Model):
    cpu: str | None = None


class Manifest(_Model):
    schema_: int = Field(alias="schema")
    config: str
    experiment: SafeName | None = None
    label: SafeName | None = None
    started: str | None = None
    tool_version: str | None = None
    resolved_config: ResolvedConfig = ResolvedConfig()
    plan: PlanInfo = PlanInfo()
    artifacts: Artifacts = Artifacts()
    accel: Accel = Accel()
    host: Host = Host()
    qemu_version: str | None = None

    def provenance(self) -> dict[str, str | None]:
        """What the run was measured with, flat: two runs that differ here
        measured different things (--resume and merge refuse to mix them)."""
        art = self.artifacts
        out = {"accelerator": self.accel.accel, "host CPU": self.host.cpu, "QEMU version": self.qemu_version}
        out |= {f"kernel {v} key": k.key for v, k in sorted(art.kernels.items())}
        out["L2 kernel key"] = art.l2_kernel.key
        out |= {f"image {n} key": i.key for n, i in sorted(art.images.items())}
        out["payload key"] = art.payload
        return out

    def cell_provenance(self, kernel: str) -> dict[str, Any]:
        """The provenance a record of this run's `kernel` cell carries."""
        art = self.artifacts
        return {"accel": self.accel.accel or "unknown", "host_cpu": self.host.cpu or "unknown",
                "qemu_version": self.qemu_version,
                "artifacts": {"kernel": (art.kernels.get(kernel) or KernelArtifact()).key,
                              "l2_kernel": art.l2_kernel.key, "payload": art.payload,
                              **{f"{n}_image": i.key for n, i in sorted(art.images.items())}}}


def differences(a: dict[str, str | None], b: dict[str, str | None]) -> list[str]:
    """Where two flat provenances differ, one "what: a / b" per field."""
    def show(v: str | None) -> str:
        return "not recorded" if v is None else v
    keys = list(a) + [k for k in b if k not in a]
    return [f"{k}: {show(a.get(k))} / {show(b.get(k))}" for k in keys if a.get(k) != b.get(k)]


class Provenance(_Model):
    """What one cell was measured with: --resume and merge refuse to mix."""
    accel: str
    host_cpu: str
    qemu_version: str | None
    artifacts: dict[str, str | None]  # kernel, l2_kernel, l1_image, l2_image, payload -> key


class CellKey(_Model):
    id: SafeName
    kernel: str
    rep: Annotated[int | str, AfterValidator(_rep)]
    index: int | None = None
    __pydantic_extra__: dict[str, Scalar]  # the cell's other coordinates: tdp, workload, params

    def coords(self) -> dict[str, Scalar]:
        return {"kernel": self.kernel, **(self.model_extra or {})}


class Boot(_Model):
    id: str  # L1's /proc/sys/kernel/random/boot_id
    template: int | None = None  # warm start: which of its group's boots


class Record(_Model):
    schema_: int = Field(alias="schema")
    cell: CellKey
    status: str
    metrics: dict[str, Any]  # values: diff skips what is not a number
    failure: dict[str, Any] | None = None
    timings: dict[str, Any] = {}
    notes: dict[str, Any] = {}
    provenance: Provenance | None = None
    boot: Boot | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def unit(self) -> str:
        """The experimental unit: the L1 boot that measured the cell.
        Without a recorded boot id, a warm cell's template folder (one
        boot, restored for each cell), else the cell itself."""
        if self.boot is not None:
            return f"boot:{self.boot.id}"
        machines = self.notes.get("machines")
        if self.notes.get("start") == "snapshot" and isinstance(machines, str):
            return f"template:{machines}"
        return f"cell:{self.cell.id}"


def refuse_mix(what: str, a: Manifest, b: Manifest) -> None:
    """Exit 2 naming the difference when two runs (or a run and what this
    host would run now) were measured with different things."""
    diff = differences(a.provenance(), b.provenance())
    if diff:
        raise UserError(f"{what}: measured with something else: {'; '.join(diff)}")


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out.replace("schema_", "schema")


WORDS = {"missing": "required key is missing", "model_type": "expected an object", "dict_type": "expected an object",
         "string_type": "expected a string", "int_type": "expected an integer", "float_type": "expected a number",
         "list_type": "expected a list", "tuple_type": "expected a list [i, n]", "bool_type": "expected true or false"}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _refuse(path: Path, exc: ValidationError) -> UserError:
    e = exc.errors()[0]
    what = WORDS.get(e["type"], e["msg"].removeprefix("Value error, "))
    got = "" if e["type"] == "missing" else f", got {type(e['input']).__name__} {_short(e['input'])}"
    return UserError(f"{path}: {_loc(tuple(e['loc']))}: {what}{got}")


def _schema(path: Path, data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UserError(f"{path}: not {what} (a JSON object is expected, got {type(data).__name__})")
    if data.get("schema") not in READABLE or isinstance(data.get("schema"), bool):
        raise UserError(f"{path}: schema: expected one of {', '.join(map(str, READABLE))}, "
                        f"got {_short(data.get('schema'))} (not {what}, or from another tool version)")
    return data


def manifest(path: Path, data: Any) -> Manifest:
    """A run manifest, checked, as a model."""
    data = _schema(path, data, "an orchestrator run manifest")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise _refuse(path, exc) from None


def record(path: Path, data: Any) -> Record:
    """A cell record, checked, as a model; its cell id must name its own file."""
    data = _schema(path, data, "a cell record")
    try:
        rec = Record.model_validate(data)
    except ValidationError as exc:
        raise _refuse(path, exc) from None
    if path.name != f"{rec.cell.id}.json":
        raise UserError(f"{path}: cell.id: {rec.cell.id!r} does not match the file name")
    return rec


def as_written(data: dict[str, Any]) -> Any:
    """The data as its JSON file will read back (tuples become lists, and
    anything else is written as text), so what is written is what is checked."""
    return json.loads(json.dumps(data, default=str))


def build_record(data: dict[str, Any]) -> dict[str, Any]:
    """A new record as written: validated by the same model it is read with."""
    out = {**data, "schema": SCHEMA}
    Record.model_validate(as_written(out))
    return out


def build_manifest(data: dict[str, Any]) -> dict[str, Any]:
    """A new manifest as written: validated by the same model it is read with."""
    out = {**data, "schema": SCHEMA}
    Manifest.model_validate(as_written(out))
    return out


def safe_name(value: object, what: str) -> str:
    """`value` if it can be used as one file name, else a UserError."""
    if not isinstance(value, str) or not SAFE.match(value):
        raise UserError(f"{what} {value!r}: only letters, digits and . _ - are allowed, starting with a letter or digit")
    return value
