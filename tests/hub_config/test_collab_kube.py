"""A team collaboration server's pod, as KubeSpawner builds it in the z2jh hub: collaboration
on for the team user, off for a person, and the pod of the reserved `team~` name valid
(KubeSpawner's real `get_pod_manifest()`, `_mock=True`, validated strictly)."""

from __future__ import annotations

import secrets
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import kubernetes_validate
import pytest
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import kube_config
from kubespawner import KubeSpawner
from traitlets.config import Config

from hub_config import builders, collab
from hub_config.hook import QuotaSpawnHook
from hub_config.z2jh import configure

from .helpers import allowed
from .test_kube_manifests import CUSTOM, DUMMY_KUBECONFIG, K8S_VERSION


@pytest.fixture
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Config, QuotaSpawnHook]:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(DUMMY_KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    monkeypatch.setenv("JUPYTERHUB_CRYPT_KEY", secrets.token_hex(32))
    monkeypatch.setenv("NEXUS_QUOTA_HOOK_TOKEN", "hook-token-for-tests")
    c = Config()
    # What z2jh's own configuration sets from its `singleuser.cmd` default (4.4.0): KubeSpawner
    # passes spawner args only after an explicit command.
    c.KubeSpawner.cmd = ["jupyterhub-singleuser"]

    def get_config(key: str, default: Any = None) -> Any:
        return {"custom.nexus": CUSTOM}.get(key, default)

    return c, configure(c, get_config)


async def _pod(c: Config, hook: QuotaSpawnHook, username: str) -> dict[str, Any]:
    user = SimpleNamespace(name=username, id=7, url=f"/user/{username}/", groups=[])
    spawner = KubeSpawner(_mock=True, config=c, user=user)
    assert hook.storage is not None
    hook.storage.apply(
        spawner, builders.plan_from_decision(username, "", allowed("consortium", "small"))
    )
    collab.apply_rtc(spawner)
    manifest = ApiClient().sanitize_for_serialization(await spawner.get_pod_manifest())
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    return manifest  # type: ignore[no-any-return]


async def test_the_team_pod_runs_with_collaboration_and_a_persons_without(
    kube: tuple[Config, QuotaSpawnHook],
) -> None:
    c, hook = kube
    team = await _pod(c, hook, collab.team_username("alpha"))
    args = team["spec"]["containers"][0]["args"]
    assert args[0] == "jupyterhub-singleuser"
    assert collab.RTC_ON in args and collab.RTC_OFF not in args
    # The reserved "~" never reaches a Kubernetes name.
    assert "~" not in team["metadata"]["name"]
    person = await _pod(c, hook, "alice")
    args = person["spec"]["containers"][0]["args"]
    assert collab.RTC_OFF in args and collab.RTC_ON not in args
