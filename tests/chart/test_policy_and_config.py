"""The chart's tier policy is the package's default policy, and its settings file loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from quota_service.config import load_settings
from quota_service.policy import PolicyError, load_policy, parse_policy
from tests.chart.chartlib import CHART_DIR, CI_FILES, Obj, by_kind, load_yaml, render

pytestmark = pytest.mark.chart

CONFIG_MAP = "nexus-quota-config"


def rendered_config_map(values_file: Path) -> dict[str, str]:
    data: dict[str, str] = by_kind(render(load_yaml(values_file)), "ConfigMap")[CONFIG_MAP]["data"]
    return data


def test_values_yaml_policy_equals_the_packaged_default_policy() -> None:
    chart_policy = load_yaml(CHART_DIR / "values.yaml")["quota"]["policy"]
    assert parse_policy(chart_policy, "values.yaml quota.policy") == load_policy()


@pytest.mark.parametrize("values_file", CI_FILES, ids=lambda p: p.name)
def test_rendered_policy_config_map_equals_the_packaged_default(values_file: Path) -> None:
    """The same policy, but for the releases' images: an operator's own registry (eks-values)."""
    document = yaml.safe_load(rendered_config_map(values_file)["policy.yaml"])
    rendered, default = parse_policy(document, "rendered policy.yaml"), load_policy()
    assert rendered.model_copy(update={"releases": []}) == default.model_copy(
        update={"releases": []}
    )
    no_image = {"image"}
    assert [r.model_dump(exclude=no_image) for r in rendered.releases] == [
        r.model_dump(exclude=no_image) for r in default.releases
    ]
    current = rendered.current_release
    assert current is not None
    single = load_yaml(values_file).get("jupyterhub", {}).get("singleuser", {}).get("image")
    single = single or load_yaml(CHART_DIR / "values.yaml")["jupyterhub"]["singleuser"]["image"]
    assert current.image.reference == f"{single['name']}:{single['tag']}"


def test_a_policy_change_in_values_reaches_the_config_map_and_is_validated() -> None:
    values = load_yaml(CI_FILES[0])
    policy: Obj = load_yaml(CHART_DIR / "values.yaml")["quota"]["policy"]
    policy["tiers"]["entry"]["scratch_retention_days"] = 7
    values.setdefault("quota", {})["policy"] = policy
    objects = render(values)
    document = yaml.safe_load(by_kind(objects, "ConfigMap")[CONFIG_MAP]["data"]["policy.yaml"])
    rendered = parse_policy(document)
    assert rendered.tier("entry").scratch_retention_days == 7
    assert rendered != load_policy()
    # A tier that names an unknown size is caught by the same validation.
    document["tiers"]["entry"]["sizes"] = ["tiny"]
    with pytest.raises(PolicyError, match="tiny"):
        parse_policy(document)


@pytest.mark.parametrize("values_file", CI_FILES, ids=lambda p: p.name)
def test_rendered_settings_file_loads_in_the_quota_service(
    values_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = rendered_config_map(values_file)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(data["config.yaml"])
    for name in ("NEXUS_QUOTA_DATABASE_URL", "JUPYTERHUB_API_TOKEN", "JUPYTERHUB_SERVICE_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NEXUS_QUOTA_CONFIG", str(config_file))
    settings = load_settings()
    assert settings.bind_host == "0.0.0.0"
    assert settings.bind_port == 10101
    assert settings.base_path == "/services/quota/"
    assert str(settings.policy_path) == "/etc/nexus-quota/policy.yaml"
    assert str(settings.storage_root) == "/srv/nexus/homes"
    assert str(settings.scratch_root) == "/srv/nexus/scratch"
    assert settings.hub_api_url == "http://hub:8081/hub/api"
    # Secrets never travel through the ConfigMap.
    for secret in ("database_url", "hub_api_token", "session_secret", "password"):
        assert secret not in data["config.yaml"]


def test_eks_settings_carry_the_operators_archive_and_smtp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = rendered_config_map(CHART_DIR / "ci" / "eks-values.yaml")
    config_file = tmp_path / "config.yaml"
    config_file.write_text(data["config.yaml"])
    monkeypatch.setenv("NEXUS_QUOTA_CONFIG", str(config_file))
    settings = load_settings()
    assert settings.archive.bucket == "roman-nexus-home-archive"
    assert settings.smtp.host == "email-smtp.us-east-1.amazonaws.com"
    assert settings.smtp.starttls is True
    assert settings.public_url == "https://quota--service.nexus.roman.example.org"
