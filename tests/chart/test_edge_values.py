"""The chart's edge limits (quota.config.limits) reach the service and typos are refused."""

from __future__ import annotations

import copy

import helm_python
import pytest
import yaml

from quota_service.config import Settings
from tests.chart.chartlib import CHART_DIR, CI_FILES, Obj, by_kind, load_yaml, render

pytestmark = pytest.mark.chart


def rendered_settings(values: Obj) -> Obj:
    config_map = by_kind(render(values), "ConfigMap")["nexus-quota-config"]
    document: Obj = yaml.safe_load(config_map["data"]["config.yaml"])
    return document


def test_limits_reach_the_settings_file() -> None:
    values = load_yaml(CI_FILES[0])
    document = rendered_settings(values)
    defaults = load_yaml(CHART_DIR / "values.yaml")["quota"]["config"]["limits"]
    assert document["limits"] == defaults
    limits = Settings.model_validate({"limits": document["limits"]}).limits
    assert "10.0.0.0/8" in limits.trusted_proxies and limits.exempt_clients == []
    assert limits.failed_tokens_per_client.burst == 20


@pytest.mark.parametrize(
    ("key", "value"),
    [("per_clients", {"per_minute": 1, "burst": 1}), ("api_body_bytes", 10)],
)
def test_a_bad_limit_is_refused_naming_the_key(key: str, value: object) -> None:
    values = copy.deepcopy(load_yaml(CI_FILES[0]))
    values.setdefault("quota", {}).setdefault("config", {}).setdefault("limits", {})[key] = value
    with pytest.raises(helm_python.HelmError, match=key):
        render(values)
