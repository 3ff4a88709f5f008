from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from quota_service.policy import PolicyError, TierName, default_policy_text, load_policy


def test_default_policy_matches_architecture_defaults() -> None:
    policy = load_policy()
    entry, research, consortium = (policy.tier(t) for t in TierName)
    assert entry.sizes == ["small", "medium"]
    assert research.sizes == ["small", "medium", "large"]
    assert consortium.sizes == ["small", "medium", "large", "xlarge"]
    assert (entry.cpu_hours_per_term, research.cpu_hours_per_term) == (1000, 20000)
    assert consortium.cpu_hours_per_term is None  # set at approval
    assert entry.home_quota_gib is not None and (
        entry.home_quota_gib.soft,
        entry.home_quota_gib.hard,
    ) == (10, 15)
    assert [t.scratch_retention_days for t in (entry, research, consortium)] == [14, 30, 60]
    assert [t.idle_cull_hours for t in (entry, research, consortium)] == [1, 4, 8]
    assert [t.max_session_hours for t in (entry, research, consortium)] == [24, 72, 168]
    assert not entry.requires_approval and research.requires_approval
    assert research.term_days == 365 and entry.term_days is None
    sizes = policy.sizes
    assert [(sizes[n].cpu_limit, sizes[n].mem_limit_gib) for n in sizes] == [
        (2, 8),
        (4, 16),
        (8, 64),
        (16, 128),
    ]
    assert all(s.cpu_guarantee < s.cpu_limit for s in sizes.values())


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_bad_value_names_key_and_value(tmp_path: Path) -> None:
    data = yaml.safe_load(default_policy_text())
    data["tiers"]["research"]["scratch_retention_days"] = -3
    with pytest.raises(PolicyError) as err:
        load_policy(_write(tmp_path, data))
    assert "tiers.research.scratch_retention_days" in str(err.value)
    assert "-3" in str(err.value)


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    data = yaml.safe_load(default_policy_text())
    data["tiers"]["entry"]["cpu_hours_per_turm"] = 5
    with pytest.raises(PolicyError, match=r"tiers\.entry\.cpu_hours_per_turm"):
        load_policy(_write(tmp_path, data))


def test_unknown_size_in_tier(tmp_path: Path) -> None:
    data = yaml.safe_load(default_policy_text())
    data["tiers"]["entry"]["sizes"] = ["small", "huge"]
    with pytest.raises(PolicyError, match="'huge'"):
        load_policy(_write(tmp_path, data))


def test_guarantee_above_limit(tmp_path: Path) -> None:
    data = yaml.safe_load(default_policy_text())
    data["sizes"]["small"]["cpu_guarantee"] = 9
    with pytest.raises(PolicyError, match=r"sizes\.small"):
        load_policy(_write(tmp_path, data))


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("sizes: [unclosed")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(bad)
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")
