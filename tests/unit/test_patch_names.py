"""Patches named as a reviewer names them: subject and author next to file
and sha256, in the manifest's kernel artifacts and in every diff format."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from orchestrator.cli.main import main
from orchestrator.config import load_experiment
from orchestrator.experiment import runner

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "tests" / "data" / "results"
PATCHES = [
    {"file": "0001-KVM-MMU-remove-pte-prefetch.patch", "sha256": "b2e41a60bddb" + "0" * 52,
     "subject": "KVM: MMU: remove pte prefetch", "author": "Seed maintainers <m@example.org>"},
    {"file": "0002-KVM-MMU-prefetch-ptes-when-intercepted-guest-PF.patch", "sha256": "1eaea18463e2" + "0" * 52,
     "subject": "KVM: MMU: prefetch ptes when intercepted guest #PF",
     "author": "Xiao Guangrong <xiaoguangrong@cn.fujitsu.com>"},
]


def test_manifest_kernels_carry_each_patchs_subject_and_author(monkeypatch):
    loaded = load_experiment(ROOT / "configs" / "nested-ept-off.yaml")
    built = SimpleNamespace(key="k", metadata={}, bzimage=Path("/nonexistent"), rootfs=Path("/r"))

    class Builder:
        def __init__(self, *a, **kw):
            pass

        def build(self, name):
            return built

    monkeypatch.setattr(runner, "KernelBuilder", Builder)
    monkeypatch.setattr(runner, "ImageBuilder", Builder)
    monkeypatch.setattr(runner, "build_payload", lambda image, kernel: SimpleNamespace(key="p", disk=Path("/d")))
    artifacts, _, _ = runner.prepare(loaded, lambda phase, detail: None)
    kernels = artifacts["kernels"]
    assert kernels["baseline"]["patches"][0]["subject"] == "KVM: MMU: remove pte prefetch"
    patched = kernels["patched"]["patches"]
    assert [p["file"] for p in patched] == [p["file"] for p in PATCHES]
    assert patched[1]["author"] == "Xiao Guangrong <xiaoguangrong@cn.fujitsu.com>"
    assert all(len(p["sha256"]) == 64 for p in patched)


@pytest.fixture()
def results(tmp_path) -> Path:
    out = tmp_path / "results"
    shutil.copytree(RESULTS, out)
    (manifest_path,) = out.glob("*/manifest.json")
    manifest = json.loads(manifest_path.read_text())
    manifest["artifacts"] = {"kernels": {"baseline": {"patches": PATCHES[:1]}, "patched": {"patches": PATCHES}}}
    manifest_path.write_text(json.dumps(manifest))
    return out


@pytest.mark.parametrize("fmt", ["table", "md", "json", "junit", "html"])
def test_every_report_format_names_the_patches(fmt, results, tmp_path):
    out = tmp_path / f"diff.{fmt}"
    assert main(["diff", "baseline", "patched", "--results", str(results), "--format", fmt, "--output", str(out)]) == 0
    text = out.read_text()
    for p in PATCHES:
        for field in ("subject", "file"):
            assert p[field].replace("#", "") in text.replace("#", ""), (fmt, p[field])
        assert p["sha256"][:12] in text
    assert "Xiao Guangrong" in text


def test_json_report_keeps_the_patches_per_side(results, tmp_path):
    out = tmp_path / "diff.json"
    assert main(["diff", "baseline", "patched", "--results", str(results), "--format", "json", "--output", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["patches"]["patched"] == PATCHES and data["patches"]["baseline"] == PATCHES[:1]
