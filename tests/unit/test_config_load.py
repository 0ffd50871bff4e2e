from __future__ import annotations

from types import MappingProxyType

import pydantic
import pytest

from orchestrator.config import load_experiment
from orchestrator.config.marked import load_with_extends
from orchestrator.errors import ConfigError


def test_repo_configs_load(repo):
    for name in ("nested-ept-off", "nested-ept-on", "prefetch"):
        loaded = load_experiment(repo / "configs" / f"{name}.yaml")
        assert set(loaded.experiment.kernels) == {"baseline", "patched"}
    off = load_experiment(repo / "configs" / "nested-ept-off.yaml").experiment
    on = load_experiment(repo / "configs" / "nested-ept-on.yaml").experiment
    both = load_experiment(repo / "configs" / "prefetch.yaml").experiment
    assert off.matrix.tdp == ("off",) and on.matrix.tdp == ("on",) and both.matrix.tdp == ("on", "off")
    assert off.workloads == on.workloads  # shared through the base


def test_loaded_config_is_frozen(test_project):
    exp = load_experiment(test_project / "configs" / "good.yaml").experiment
    with pytest.raises(pydantic.ValidationError):
        exp.repetitions = 5  # type: ignore[misc]
    assert isinstance(exp.kernels, MappingProxyType)
    with pytest.raises(TypeError):
        exp.kernels["c"] = exp.kernels["a"]  # type: ignore[index]


def test_extends_merges_deeply_and_child_wins(test_project):
    doc = load_with_extends(test_project / "configs" / "good.yaml")
    assert doc["name"] == "good"
    assert doc["machines"]["l2"]["kernel"] == "k2"  # from base
    assert doc["matrix"]["params"]["l2_memory_mib"] == [256, 512]  # from the child
    assert doc.key_src["name"].file.endswith("good.yaml")
    assert doc.key_src["kernels"].file.endswith("base.yaml")


def test_on_off_are_words_not_booleans(test_project):
    exp = load_experiment(test_project / "configs" / "good.yaml").experiment
    assert exp.matrix.tdp == ("on", "off")
    assert exp.expectations[0].when["tdp"] == "off"


def test_defaults_filled(test_project):
    exp = load_experiment(test_project / "configs" / "good.yaml").experiment
    assert exp.machines.l1.accel == "auto"
    assert "kvm-debugfs" in exp.collectors


def test_error_str_names_file_line_key(tmp_path):
    err = ConfigError("a.yaml", 3, "matrix.tdp", "bad")
    assert str(err) == "a.yaml:3: matrix.tdp: bad"
    assert err.exit_code == 2


def test_yaml_object_tags_never_execute(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f'name: !!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(ConfigError):
        load_with_extends(cfg)
    assert not marker.exists()
