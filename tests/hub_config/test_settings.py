"""The spawn hook's traits have one source, the hub settings: a hook built by hub_config takes
the hub's `HubSettings`, one built alone reads the same environment names, and a
`c.QuotaSpawnHook` line still wins."""

from __future__ import annotations

import os

import pytest
from traitlets.config import Config

from hub_config.config import make_hook
from hub_config.hook import QuotaSpawnHook
from hub_config.settings import HubSettings, load_settings

# trait -> (setting, a value that is not the default)
TRAITS = {
    "quota_url": ("quota_url", "http://quota.example:8080/services/quota/"),
    "fail_mode": ("quota_fail_mode", "open"),
    "timeout": ("quota_timeout_seconds", 1.5),
    "restore_timeout": ("restore_timeout_seconds", 42.0),
    "quota_public_path": ("quota_public_path", "https://quota.example.org/services/quota/"),
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("NEXUS_"):
            monkeypatch.delenv(name)


def test_traits_default_to_the_settings_given() -> None:
    settings = HubSettings.model_validate(
        {
            **{setting: value for setting, value in TRAITS.values()},
            "quota_hook_token": "hook-token",
            "fallback_size": {"name": "tiny", "cpu_limit": 1.0},
        }
    )
    hook = make_hook(Config(), settings, storage=None)  # type: ignore[arg-type]
    for trait, (_setting, value) in TRAITS.items():
        assert getattr(hook, trait) == value, trait
    assert hook.api_token == "hook-token"
    assert hook.fallback.name == "tiny" and hook.fallback.cpu_limit == 1.0


def test_a_config_line_wins_over_the_setting() -> None:
    c = Config()
    c.QuotaSpawnHook.timeout = 9.0
    c.QuotaSpawnHook.fail_mode = "closed"
    hook = make_hook(c, HubSettings(quota_timeout_seconds=2.0, quota_fail_mode="open"), None)  # type: ignore[arg-type]
    assert hook.timeout == 9.0 and hook.fail_mode == "closed"


def test_a_hook_built_alone_reads_the_settings_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEXUS_QUOTA_URL", "http://elsewhere:10101/services/quota/")
    monkeypatch.setenv("NEXUS_QUOTA_HOOK_TOKEN", "from-env")
    monkeypatch.setenv("NEXUS_QUOTA_FAIL_MODE", "open")
    hook = QuotaSpawnHook()
    assert hook.quota_url == "http://elsewhere:10101/services/quota/"
    assert hook.api_token == "from-env"
    assert hook.fail_mode == "open"
    assert hook.timeout == load_settings().quota_timeout_seconds


def test_defaults_without_any_environment() -> None:
    hook = QuotaSpawnHook()
    defaults = HubSettings.model_construct()
    for trait, (setting, _value) in TRAITS.items():
        assert getattr(hook, trait) == getattr(defaults, setting), trait
    assert hook.api_token == ""
    assert hook.fallback == defaults.fallback_size
