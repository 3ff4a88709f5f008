"""Team collaboration servers in the chart: the idle stop setting reaches the quota service's
settings file (which the reconcile CronJob reads too), a bad value is refused, and the quota
service's hub role carries the scopes the collaboration endpoints use."""

from __future__ import annotations

import copy

import helm_python
import pytest
import yaml

from hub_config.services import COLLAB_HUB_SCOPES
from quota_service.config import Settings
from tests.chart.chartlib import CI_FILES, Obj, by_kind, load_yaml, merged_values, render

pytestmark = pytest.mark.chart


def _with_idle_hours(value: object) -> Obj:
    values = copy.deepcopy(load_yaml(CI_FILES[0]))
    config = values.setdefault("quota", {}).setdefault("config", {})
    config["reconcile"] = {"collab_idle_hours": value}
    return values


def test_the_idle_stop_reaches_the_settings_file() -> None:
    config_map = by_kind(render(_with_idle_hours(1.5)), "ConfigMap")["nexus-quota-config"]
    document = yaml.safe_load(config_map["data"]["config.yaml"])
    assert document["reconcile"] == {"collab_idle_hours": 1.5}
    assert (
        Settings.model_validate({"reconcile": document["reconcile"]}).reconcile.collab_idle_hours
        == 1.5
    )
    # Unset: the service's default, 3 hours.
    default = by_kind(render(load_yaml(CI_FILES[0])), "ConfigMap")["nexus-quota-config"]
    assert "reconcile" not in yaml.safe_load(default["data"]["config.yaml"])
    assert Settings().reconcile.collab_idle_hours == 3.0


@pytest.mark.parametrize("value", [0, -1, "3h"])
def test_a_bad_idle_stop_is_refused_naming_the_key(value: object) -> None:
    with pytest.raises(helm_python.HelmError, match="collab_idle_hours"):
        render(_with_idle_hours(value))


def test_the_quota_services_hub_role_can_run_team_servers() -> None:
    roles = merged_values(load_yaml(CI_FILES[0]))["jupyterhub"]["hub"]["loadRoles"]
    (role,) = [r for r in roles.values() if "quota" in r.get("services", [])]
    assert set(COLLAB_HUB_SCOPES) <= set(role["scopes"])
    assert {"admin:users", "servers", "shares"} == set(COLLAB_HUB_SCOPES)
