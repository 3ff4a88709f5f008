"""The tests' token hub carries hub_config's services, roles and custom scopes, not a copy.

Both configurations are loaded by traitlets' own loader (as `jupyterhub -f` does) with the
environment the stacks give them: tests/support/quota_hub_config.py, and the real
hub_config/jupyterhub_config.py. A service, role or scope added to hub_config.services and
missing from the test hub, or one the test hub invents, fails here.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from dev.envs import hub_login_env, hub_process_env
from dev.settings import QUOTA_PREFIX, local_url, new_secrets
from hub_config.services import CUSTOM_SCOPES
from tests.support.hub import HUB_CONFIG
from tests.support.quota import QUOTA_HUB_CONFIG, token_hub_env

# What only the test hub adds: its test-admin service with the built-in admin role.
TEST_ONLY_SERVICES = {"test-admin"}
TEST_ONLY_ROLES = {"admin"}


def _load(path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Config:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config: Config = PyFileConfigLoader(path.name, str(path.parent)).load_config()
    return config


def _by_name(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in entries}


@pytest.fixture
def configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Config, Config]:
    secrets = new_secrets()
    oidc = "http://127.0.0.1:1"
    env = {
        **hub_process_env(
            state_dir=tmp_path / "state",
            secrets=secrets,
            node_bin=tmp_path,
            python=Path(sys.executable),
        ),
        **hub_login_env(issuer=oidc, secrets=secrets),
        **token_hub_env(secrets, local_url(10101, QUOTA_PREFIX)),
        # Explicit endpoints spare the real hub's login a discovery request.
        **{
            f"NEXUS_OIDC_{k.upper()}_URL": f"{oidc}/{k}" for k in ("authorize", "token", "userinfo")
        },
    }
    test_hub = _load(QUOTA_HUB_CONFIG, env, monkeypatch)
    real_hub = _load(HUB_CONFIG, env, monkeypatch)
    return test_hub, real_hub


def test_the_test_hub_has_hub_configs_services_and_nothing_else(
    configs: tuple[Config, Config],
) -> None:
    test_hub, real_hub = configs
    test_services = _by_name(test_hub.JupyterHub.services)
    real_services = _by_name(real_hub.JupyterHub.services)
    assert {"quota", "quota-hub-hook", "quota-jobs"} <= set(real_services)
    assert set(test_services) - TEST_ONLY_SERVICES == set(real_services)
    for name, entry in real_services.items():
        assert test_services[name] == entry, name


def test_the_test_hub_has_hub_configs_roles_and_scopes(configs: tuple[Config, Config]) -> None:
    test_hub, real_hub = configs
    test_roles = _by_name(test_hub.JupyterHub.load_roles)
    real_roles = _by_name(real_hub.JupyterHub.load_roles)
    assert set(test_roles) - TEST_ONLY_ROLES == set(real_roles)
    for name, role in real_roles.items():
        assert test_roles[name] == role, name
    assert test_hub.JupyterHub.custom_scopes == real_hub.JupyterHub.custom_scopes
    assert set(test_hub.JupyterHub.custom_scopes) == set(CUSTOM_SCOPES)
