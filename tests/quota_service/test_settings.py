"""The quota service's one settings object: every environment name the chart, dev/ and the
hub set still reaches it, in the documented precedence, and nothing else reads them."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from quota_service import names
from quota_service.cli.reconcile import reconcile_options
from quota_service.config import (
    ConfigError,
    ReconcileSettings,
    Settings,
    load_settings,
)
from quota_service.web.oauth import OAuthConfig

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what each test sets: none of the runner's own NEXUS_* or JUPYTERHUB_* variables."""
    for name in list(os.environ):
        if name.startswith(("NEXUS_", "JUPYTERHUB_")):
            monkeypatch.delenv(name)


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **values: object) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(values))
    monkeypatch.setenv(names.CONFIG_ENV, str(path))
    return path


# Each JupyterHub variable, the setting it feeds, and a value.
JUPYTERHUB_VARIABLES = [
    ("JUPYTERHUB_SERVICE_PREFIX", "base_path", "/services/other/"),
    ("JUPYTERHUB_API_URL", "hub_api_url", "http://hub:8081/hub/api"),
    ("JUPYTERHUB_CLIENT_ID", "oauth_client_id", "service-other"),
    ("JUPYTERHUB_SERVICE_NAME", "hub_service_name", "other"),
    ("JUPYTERHUB_BASE_URL", "hub_base_url", "/jupyter/"),
    ("JUPYTERHUB_HOST", "hub_host", "https://hub.example.org"),
    ("JUPYTERHUB_OAUTH_SCOPES", "oauth_scopes", '["custom:nexus-quota:admin"]'),
    ("JUPYTERHUB_OAUTH_CALLBACK_URL", "oauth_callback_url", "https://q.example.org/cb"),
]


@pytest.mark.parametrize(("variable", "field", "value"), JUPYTERHUB_VARIABLES)
def test_jupyterhub_variables_rank_between_the_yaml_file_and_the_defaults(
    variable: str,
    field: str,
    value: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = Settings.model_fields[field].default
    assert getattr(load_settings(), field) == default
    monkeypatch.setenv(variable, value)
    assert getattr(load_settings(), field) == value
    # The YAML file wins over JupyterHub's variable, as when the variable was a default...
    _config(tmp_path, monkeypatch, **{field: "from-yaml"})
    assert getattr(load_settings(), field) == "from-yaml"
    # ...and NEXUS_QUOTA_<NAME> over both.
    monkeypatch.setenv(names.ENV_PREFIX + field.upper(), "from-nexus")
    assert getattr(load_settings(), field) == "from-nexus"


def test_an_empty_jupyterhub_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "")
    settings = load_settings()
    assert settings.hub_api_token is None and settings.jobs_token is None
    assert settings.base_path == names.SERVICE_PREFIX


def test_the_hub_token_and_the_jobs_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "process-token")
    settings = load_settings()
    assert settings.hub_api_token is not None and settings.jobs_token is not None
    # The reconcile CronJob only has JUPYTERHUB_API_TOKEN: it is the jobs token there.
    assert settings.jobs_token.get_secret_value() == "process-token"
    monkeypatch.setenv("NEXUS_QUOTA_JOBS_TOKEN", "jobs-token")
    monkeypatch.setenv("NEXUS_QUOTA_HUB_API_TOKEN", "service-token")
    settings = load_settings()
    assert settings.jobs_token is not None and settings.hub_api_token is not None
    assert settings.jobs_token.get_secret_value() == "jobs-token"
    assert settings.hub_api_token.get_secret_value() == "service-token"


def test_the_storage_state_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().storage_state_dir == Path(".state/purge")
    monkeypatch.setenv("NEXUS_STORAGE_STATE_DIR", "")
    assert load_settings().storage_state_dir == Path(".state/purge")
    monkeypatch.setenv("NEXUS_STORAGE_STATE_DIR", str(tmp_path / "state"))
    assert load_settings().storage_state_dir == tmp_path / "state"
    monkeypatch.setenv("NEXUS_QUOTA_STORAGE_STATE_DIR", str(tmp_path / "other"))
    assert load_settings().storage_state_dir == tmp_path / "other"


@pytest.mark.parametrize(
    "secret", ["database_url", "hub_api_token", "session_secret", "jobs_token"]
)
def test_secrets_are_refused_in_the_file(
    secret: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(tmp_path, monkeypatch, **{secret: "leaked"})
    with pytest.raises(ConfigError, match=f"set NEXUS_QUOTA_{secret.upper()} in the environment"):
        load_settings()


@pytest.mark.parametrize("key", ["JUPYTERHUB_API_TOKEN", "NEXUS_STORAGE_STATE_DIR"])
def test_an_environment_name_is_not_a_file_key(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(tmp_path, monkeypatch, **{key: "x"})
    with pytest.raises(ConfigError, match="is the name of an environment variable"):
        load_settings()


def test_errors_name_each_bad_key_once_per_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(tmp_path, monkeypatch, workers=0, reconcile={"warn_hours": -1}, typo=1)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    lines = str(caught.value).splitlines()
    assert lines[0] == "invalid quota service settings:"
    assert sorted(line.split(":")[0].strip() for line in lines[1:]) == [
        "reconcile.warn_hours",
        "typo",
        "workers",
    ]
    assert "(got 0)" in str(caught.value)


def test_reconcile_options_default_to_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXUS_QUOTA_RECONCILE__GRACE_MINUTES", "30")
    monkeypatch.setenv("NEXUS_QUOTA_RECONCILE__ADOPT_SIZE", "medium")
    limits = load_settings().reconcile
    options = reconcile_options(limits, warn_hours=None, orphan_grace_seconds=5.0)
    assert options.grace == timedelta(minutes=30)
    assert options.adopt_size == "medium"
    assert options.orphan_grace == timedelta(seconds=5)
    assert options.warn_before_hours == ReconcileSettings().warn_hours
    assert reconcile_options(limits, adopt=False).adopt_size is None


def test_sign_in_reads_the_hub_environment_through_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JUPYTERHUB_HOST", "https://hub.example.org")
    monkeypatch.setenv("JUPYTERHUB_BASE_URL", "/")
    monkeypatch.setenv("JUPYTERHUB_OAUTH_SCOPES", '["custom:nexus-quota:admin"]')
    config = OAuthConfig.from_settings(load_settings())
    assert config.authorize_url == "https://hub.example.org/hub/api/oauth2/authorize"
    assert config.scopes == ("custom:nexus-quota:admin",)
    assert config.redirect_uri == "/services/quota/oauth_callback"


def test_no_module_reads_a_setting_from_the_environment_itself() -> None:
    """The settings are the one place: the only environment reads left in the package are
    the YAML file's name, the test-only loop guard, prometheus-client's own variable and the
    CLI's actor."""
    allowed = {
        "quota_service/config.py": {"CONFIG_ENV"},
        "quota_service/app.py": {"PROMETHEUS_MULTIPROC_DIR", "LOOP_GUARD_ENV"},
        # The CLI's --actor names who the audit log records, per command, not a setting.
        "quota_service/cli/main.py": {"PROMETHEUS_MULTIPROC_DIR", "NEXUS_QUOTA_ACTOR"},
        # Per pod, not settings: Kubernetes gives each Indexed Job pod its index, and the run
        # id is the Job's name (the chart's downward API).
        "quota_service/cli/storage.py": {"INDEX_ENV", "NEXUS_SCAN_RUN_ID", "NEXUS_PURGE_RUN_ID"},
    }
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / "quota_service").rglob("*.py")):
        rel = str(path.relative_to(REPO))
        for line in path.read_text().splitlines():
            if any(read in line for read in ("os.environ", "os.getenv", "envvar=")):
                found.setdefault(rel, set()).add(line.strip())
    unexpected = {
        rel: lines
        for rel, lines in found.items()
        if not all(any(name in line for name in allowed.get(rel, ())) for line in lines)
    }
    assert not unexpected
