"""Pure builders: limits, labels, environment, volumes, profiles and the local form."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from traitlets.config import Config

from hub_config import builders
from hub_config.apply import NOTICE_FILE, prepare_local_home
from hub_config.auth import configure_authenticator
from hub_config.hook import denial_error
from hub_config.profiles import build_profiles, options_from_form, render_form
from hub_config.quota_client import SpawnAllowed, SpawnDenied
from hub_config.settings import FallbackSize, HubSettings, SettingsError, load_settings

from .helpers import allowed, entitlements

GIB = 1024**3


def test_resources_and_labels_follow_the_decision() -> None:
    plan = builders.plan_from_decision("alice", "", allowed("research", "large"))
    assert builders.resources(plan.size) == {
        "cpu_limit": 8.0,
        "cpu_guarantee": 6.0,
        "mem_limit": 64 * GIB,
        "mem_guarantee": 56 * GIB,
    }
    assert builders.labels(plan) == {
        "nexus/tier": "research",
        "nexus/allocation": "7",
        "nexus/size": "large",
    }
    assert builders.tolerations(plan.size) == [
        {"key": "nexus.roman/size", "operator": "Equal", "value": "large", "effect": "NoSchedule"}
    ]


def test_environment_carries_tier_allocation_and_quota_figures() -> None:
    plan = builders.plan_from_decision("alice", "lab2", allowed("entry", "small"))
    env = builders.environment(plan, "/services/quota/")
    assert env["NEXUS_TIER"] == "entry"
    assert env["NEXUS_ALLOCATION_ID"] == "7"
    assert env["NEXUS_CPU_HOURS_LEFT"] == "123.5"
    assert env["NEXUS_IDLE_CULL_HOURS"] == "1"
    assert env["NEXUS_MAX_SESSION_HOURS"] == "24"
    assert env["NEXUS_HOME_QUOTA_HARD_BYTES"] == str(15 * GIB)
    assert env["NEXUS_CLEANUP_MODE"] == "0"
    assert env["NEXUS_QUOTA_URL"] == "/services/quota/"


def test_flat_home_quota_fields_are_understood() -> None:
    decision = allowed(
        "entry", "small", home_quota={}, home_quota_soft_bytes=1, home_quota_hard_bytes=2
    )
    plan = builders.plan_from_decision("alice", "", decision)
    assert (plan.home_soft_bytes, plan.home_hard_bytes) == (1, 2)


def test_fail_open_plan_uses_the_fallback_size() -> None:
    plan = builders.fail_open_plan("bob", "", FallbackSize())
    assert plan.fail_open and plan.tier == "entry" and plan.allocation == "none"
    assert plan.size.cpu_limit == 2.0 and plan.size.mem_limit_bytes == 8 * GIB
    assert plan.notice and "Entry limits" in plan.notice
    assert builders.environment(plan, "/q/")["NEXUS_QUOTA_FAIL_OPEN"] == "1"


def test_kube_volumes_mount_one_claim_once_at_the_directory_rule_subpaths() -> None:
    volumes, mounts = builders.kube_volumes(HubSettings(home_pvc_name="efs"), "Jane.Doe")
    assert volumes == [{"name": "nexus-efs", "persistentVolumeClaim": {"claimName": "efs"}}]
    by_path = {m["mountPath"]: m for m in mounts}
    assert by_path["/home/jovyan"] == {
        "name": "nexus-efs",
        "mountPath": "/home/jovyan",
        "subPath": "home/-4aane-2e-44oe",
    }
    assert by_path["/home/jovyan/scratch"]["subPath"] == "scratch/-4aane-2e-44oe"
    # The image's own read-only tutorials are not hidden by a mount.
    assert "/home/jovyan/tutorials" not in by_path


def test_kube_volumes_mount_the_published_tutorials_read_only() -> None:
    settings = HubSettings(home_pvc_name="efs", tutorials_subdir="tutorials")
    _volumes, mounts = builders.kube_volumes(settings, "alice")
    assert mounts[-1] == {
        "name": "nexus-efs",
        "mountPath": "/opt/nexus/tutorials",
        "subPath": "tutorials",
        "readOnly": True,
    }
    with pytest.raises(ValueError, match="tutorials_subdir"):
        HubSettings(tutorials_subdir="../homes")


def test_kube_volumes_separate_scratch_claim() -> None:
    volumes, mounts = builders.kube_volumes(
        HubSettings(home_pvc_name="h", scratch_pvc_name="s", scratch_subdir="x/y"), "alice"
    )
    claims = {v["name"]: v["persistentVolumeClaim"] for v in volumes}
    assert claims == {"nexus-efs": {"claimName": "h"}, "nexus-scratch": {"claimName": "s"}}
    assert {m["subPath"]: m["name"] for m in mounts} == {
        "home/alice": "nexus-efs",
        "x/y/alice": "nexus-scratch",
    }


@pytest.mark.parametrize("folder", ["", "/abs", "a/../b", ".", "a//b"])
def test_storage_subdirs_must_be_relative_folders(folder: str) -> None:
    with pytest.raises(ValueError, match="home_subdir"):
        HubSettings(home_subdir=folder)


def test_local_layout_uses_the_directory_rule(tmp_path: Path) -> None:
    settings = HubSettings(state_dir=tmp_path)
    assert builders.local_layout(settings, "alice").home == tmp_path.resolve() / "homes/alice"
    assert builders.local_layout(settings, "a/b").home == tmp_path.resolve() / "homes/a-2fb"
    assert builders.local_layout(settings, "..").home == tmp_path.resolve() / "homes/-2e-2e"
    with pytest.raises(ValueError, match="empty"):
        builders.local_layout(settings, "")


def test_prepare_local_home_links_scratch_and_readonly_tutorials(tmp_path: Path) -> None:
    src = tmp_path / "notebooks"
    (src / "intro").mkdir(parents=True)
    (src / "intro" / "stream.ipynb").write_text("{}")
    settings = HubSettings(state_dir=tmp_path / "state", tutorials_dir=src)
    layout = builders.local_layout(settings, "alice")
    prepare_local_home(layout, "over quota")
    assert (layout.home / "scratch").resolve() == layout.scratch
    copied = layout.home / "tutorials" / "intro" / "stream.ipynb"
    assert copied.read_text() == "{}"
    assert stat.S_IMODE(os.stat(copied).st_mode) == 0o444
    assert stat.S_IMODE(os.stat(layout.tutorials_copy).st_mode) == 0o555
    assert (layout.home / NOTICE_FILE).read_text().strip() == "over quota"
    # The user's own directory named like a link is never replaced; the notice goes away.
    (src / "intro" / "stream.ipynb").write_text('{"v": 2}')
    prepare_local_home(layout, None)
    assert copied.read_text() == '{"v": 2}'
    assert not (layout.home / NOTICE_FILE).exists()


def test_profiles_offer_only_allowed_sizes_with_cost_and_hours_left() -> None:
    ent = entitlements(
        [{"id": 3, "tier": "entry", "label": "Entry (alice)", "cpu_hours_left": 900.0}]
    )
    profiles = build_profiles(ent)
    assert [p["slug"] for p in profiles] == ["small", "medium"]
    small = profiles[0]
    assert small["default"] is True
    assert "2 CPU, 8 GiB RAM" in small["description"]
    assert "costs 2 CPU-hours per hour" in small["description"]
    assert "900.0 CPU-hours left" in small["description"]
    assert "profile_options" not in small
    assert small["kubespawner_override"] == {}


def test_profiles_let_someone_with_several_allocations_choose_what_to_charge() -> None:
    ent = entitlements(
        [
            {"id": 3, "tier": "entry", "label": "Entry (alice)", "cpu_hours_left": 900.0},
            {"id": 7, "tier": "research", "label": "Research (alice)", "cpu_hours_left": 5.0},
        ],
        tier="research",
    )
    profiles = {p["slug"]: p for p in build_profiles(ent)}
    assert list(profiles) == ["small", "medium", "large"]
    choices = profiles["small"]["profile_options"]["allocation"]["choices"]
    assert set(choices) == {"3", "7"}
    assert "5.0 CPU-hours left" in choices["7"]["display_name"]
    assert "profile_options" not in profiles["large"]  # only Research allows large


def test_cleanup_mode_offers_only_the_smallest_size_with_a_notice() -> None:
    ent = entitlements(
        [{"id": 7, "tier": "research", "label": "R", "cpu_hours_left": 5.0}], cleanup=True
    )
    profiles = build_profiles(ent)
    assert [p["slug"] for p in profiles] == ["small"]
    assert "clean-up mode" in profiles[0]["description"]


def test_local_form_uses_kubespawner_field_names() -> None:
    ent = entitlements(
        [
            {"id": 3, "tier": "entry", "label": "Entry <a>", "cpu_hours_left": 1.0},
            {"id": 7, "tier": "research", "label": "R", "cpu_hours_left": 2.0},
        ]
    )
    html = render_form(build_profiles(ent))
    assert 'name="profile" value="small" checked' in html
    assert 'name="profile-option-small--allocation"' in html
    assert "Entry &lt;a&gt;" in html
    form = {"profile": ["medium"], "profile-option-medium--allocation": ["7"], "junk": ["x"]}
    assert options_from_form(form) == {"profile": "medium", "allocation": "7"}
    assert options_from_form({}) == {}


def test_denial_message_shows_limit_usage_reset_and_upgrade_link() -> None:
    denied = SpawnDenied.model_validate(
        {
            "allowed": False,
            "code": "cpu_hours_exhausted",
            "message": "Your Entry allocation has used 1000.0 of its 1000.0 CPU-hours.",
            "limit": 1000.0,
            "used": 1000.0,
            "resets_at": "2027-01-01T00:00:00Z",
            "upgrade_url": "/services/quota/requests/new",
        }
    )
    err = denial_error(denied)
    assert err.status_code == 403
    assert err.jupyterhub_message == denied.message
    html = err.jupyterhub_html_message
    assert "Limit: 1000" in html and "Used: 1000" in html and "Resets: 2027-01-01" in html
    assert '<a href="/services/quota/requests/new">' in html


def test_settings_env_over_custom_and_secrets_only_from_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEXUS_ADMIN_GROUPS", "nexus-admins, ops")
    monkeypatch.setenv("NEXUS_QUOTA_HOOK_TOKEN", "from-env-token")
    s = load_settings({"admin_groups": ["ignored"], "quota_fail_mode": "open"})
    assert s.admin_groups == ["nexus-admins", "ops"]
    assert s.quota_fail_mode == "open"
    assert s.quota_hook_token is not None
    assert s.quota_hook_token.get_secret_value() == "from-env-token"
    with pytest.raises(SettingsError, match="NEXUS_OIDC_CLIENT_SECRET"):
        load_settings({"oidc_client_secret": "leaked"})
    with pytest.raises(SettingsError, match="quota_fail_mod"):
        load_settings({"quota_fail_mod": "open"})
    with pytest.raises(SettingsError, match="oidc_token_url"):
        load_settings({"oidc_authorize_url": "http://x/a"})


def test_response_models_ignore_fields_they_do_not_use() -> None:
    d = allowed("entry", "small", brand_new_field=1)
    assert isinstance(d, SpawnAllowed)


def test_authenticator_pkce_auth_state_groups_and_explicit_urls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = HubSettings(
        oidc_issuer="http://127.0.0.1:9",  # never read: explicit URLs win
        oidc_authorize_url="https://myst.example.org/auth",
        oidc_token_url="https://myst.example.org/token",
        oidc_userinfo_url="https://myst.example.org/userinfo",
        oidc_groups_claim="myst_groups",
        admin_groups=["nexus-admins"],
    )
    monkeypatch.delenv("JUPYTERHUB_CRYPT_KEY", raising=False)
    with pytest.raises(RuntimeError, match="JUPYTERHUB_CRYPT_KEY"):
        configure_authenticator(Config(), settings)
    monkeypatch.setenv("JUPYTERHUB_CRYPT_KEY", "0" * 64)
    c = Config()
    configure_authenticator(c, settings)
    a = c.GenericOAuthenticator
    assert a.authorize_url == "https://myst.example.org/auth"
    assert a.enable_pkce is True and a.enable_auth_state is True
    assert a.manage_groups is True
    assert a.auth_state_groups_key == "oauth_user.myst_groups"
    assert a.admin_groups == {"nexus-admins"}
    assert a.allow_all is True  # no allowed groups: Entry is open to every MyST account
    restricted = Config()
    configure_authenticator(restricted, settings.model_copy(update={"allowed_groups": ["a"]}))
    assert restricted.GenericOAuthenticator.allowed_groups == {"a"}
    assert "allow_all" not in restricted.GenericOAuthenticator
