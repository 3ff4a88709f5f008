"""The hook object itself: shared across traitlets' deep copies; the unreachable paths."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from traitlets.config import Config

from hub_config.apply import LocalApplier
from hub_config.hook import NoticeBoard, QuotaSpawnHook, SpawnRefused
from hub_config.profiles import ProfileList
from hub_config.quota_client import QuotaClient, QuotaUnavailable
from hub_config.settings import HubSettings
from tests.support.processes import free_port


def _hook(mode: str, tmp_path: Path) -> QuotaSpawnHook:
    c = Config()
    # Nothing listens on a port we just freed: the service is really unreachable.
    c.QuotaSpawnHook.quota_url = f"http://127.0.0.1:{free_port()}/services/quota/"
    c.QuotaSpawnHook.api_token = "hook-token-for-tests"
    c.QuotaSpawnHook.fail_mode = mode
    c.QuotaSpawnHook.timeout = 2.0
    hook = QuotaSpawnHook(config=c)
    hook.storage = LocalApplier(HubSettings(state_dir=tmp_path))
    return hook


def _spawner(name: str) -> SimpleNamespace:
    return SimpleNamespace(
        user=SimpleNamespace(name=name), name="", user_options={"profile": "small"}, environment={}
    )


def test_deep_copies_share_the_hook_client_and_notices(tmp_path: Path) -> None:
    hook = _hook("closed", tmp_path)
    hook_copy: Any = copy.deepcopy(hook.pre_spawn_hook)
    notice_copy: Any = copy.deepcopy(hook.notices.announcement)
    assert hook_copy.__self__ is hook
    assert notice_copy.__self__ is hook.notices
    profiles = ProfileList(hook)
    assert copy.deepcopy(profiles) is profiles
    assert hook.client is hook.client


async def test_fail_closed_refuses(tmp_path: Path) -> None:
    hook = _hook("closed", tmp_path)
    with pytest.raises(SpawnRefused) as err:
        await hook.pre_spawn_hook(_spawner("alice"))
    assert err.value.status_code == 503
    assert "cannot be reached" in err.value.jupyterhub_message
    await hook.close()


async def test_fail_open_applies_the_fallback_and_posts_a_notice(tmp_path: Path) -> None:
    hook = _hook("open", tmp_path)
    spawner = _spawner("alice")
    await hook.pre_spawn_hook(spawner)
    assert spawner.cpu_limit == 2.0
    assert spawner.environment["NEXUS_QUOTA_FAIL_OPEN"] == "1"
    assert (tmp_path / "homes" / "alice" / "scratch").is_symlink()
    assert "Entry limits" in hook.notices.announcement(SimpleNamespace(name="alice"))
    await hook.post_stop_hook(spawner)  # unreachable too: logged, not raised
    assert hook.notices.announcement(SimpleNamespace(name="alice")) == ""
    await hook.close()


async def test_client_turns_transport_errors_into_quota_unavailable() -> None:
    client = QuotaClient(f"http://127.0.0.1:{free_port()}/services/quota", "t" * 16, timeout=2)
    with pytest.raises(QuotaUnavailable):
        await client.entitlements("alice")
    await client.aclose()


def test_notice_board_escapes_html() -> None:
    board = NoticeBoard()
    board.set("bob", "", "<script>")
    assert board.announcement(SimpleNamespace(name="bob")) == "&lt;script&gt;"
    assert board.announcement(None) == ""
