"""KubeSpawner's real `get_pod_manifest()` for every tier and size, validated strictly.

No cluster: a dummy KUBECONFIG and `_mock=True`. The hub configuration is the one the z2jh
hub runs (`hub_config.z2jh.configure`), with custom values passed as z2jh's `get_config` would.
"""

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

from hub_config import builders
from hub_config.hook import QuotaSpawnHook
from hub_config.readiness import ReadyPollMixin
from hub_config.z2jh import configure

from .helpers import POLICY, allowed, tier_sizes

K8S_VERSION = "1.32"
DUMMY_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- cluster: {server: "https://127.0.0.1:6443"}
  name: dummy
contexts:
- context: {cluster: dummy, user: dummy, namespace: nexus}
  name: dummy
current-context: dummy
users:
- name: dummy
  user: {token: dummy-token}
"""
CUSTOM = {
    "oidc_authorize_url": "https://myst.example.org/authorize",
    "oidc_token_url": "https://myst.example.org/token",
    "oidc_userinfo_url": "https://myst.example.org/userinfo",
    "home_pvc_name": "nexus-efs",
    "quota_url": "http://nexus-quota:10101/services/quota/",
}


@pytest.fixture
def z2jh_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Config, QuotaSpawnHook]:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(DUMMY_KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    # kubernetes_asyncio reads $KUBECONFIG once, at import time.
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    monkeypatch.setenv("JUPYTERHUB_CRYPT_KEY", secrets.token_hex(32))
    monkeypatch.setenv("NEXUS_QUOTA_HOOK_TOKEN", "hook-token-for-tests")
    c = Config()

    def get_config(key: str, default: Any = None) -> Any:
        return {"custom.nexus": CUSTOM}.get(key, default)

    hook = configure(c, get_config)
    return c, hook


def _user(name: str) -> SimpleNamespace:
    return SimpleNamespace(name=name, id=1, url=f"/user/{name}/", groups=[])


async def _manifest(c: Config, hook: QuotaSpawnHook, tier: str, size: str) -> dict[str, Any]:
    spawner = KubeSpawner(_mock=True, config=c, user=_user("alice"))
    plan = builders.plan_from_decision("alice", "", allowed(tier, size))
    assert hook.storage is not None
    hook.storage.apply(spawner, plan)
    pod = await spawner.get_pod_manifest()
    return ApiClient().sanitize_for_serialization(pod)  # type: ignore[no-any-return]


def test_z2jh_configure_sets_kubespawner_profile_list_and_hooks(
    z2jh_config: tuple[Config, QuotaSpawnHook],
) -> None:
    c, hook = z2jh_config
    # KubeSpawner with the start-up readiness check (hub_config/readiness.py)
    assert issubclass(c.JupyterHub.spawner_class, KubeSpawner)
    assert issubclass(c.JupyterHub.spawner_class, ReadyPollMixin)
    assert callable(c.KubeSpawner.profile_list)
    assert c.Spawner.pre_spawn_hook == hook.pre_spawn_hook
    assert c.Spawner.post_stop_hook == hook.post_stop_hook
    assert hook.quota_url == CUSTOM["quota_url"]
    assert hook.api_token == "hook-token-for-tests"
    names = {s["name"] for s in c.JupyterHub.services}
    assert names == {"quota", "quota-hub-hook", "quota-jobs"}  # culler: the chart's cull.*
    assert set(c.JupyterHub.custom_scopes) == {
        "custom:nexus-quota:spawn",
        "custom:nexus-quota:jobs",
        "custom:nexus-quota:admin",
    }
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["quota-hub-hook"]["scopes"] == ["custom:nexus-quota:spawn"]
    assert "access:services!service=quota" in roles["user"]["scopes"]


@pytest.mark.parametrize(("tier", "size"), tier_sizes())
async def test_pod_manifest_for_every_tier_and_size_validates(
    z2jh_config: tuple[Config, QuotaSpawnHook], tier: str, size: str
) -> None:
    c, hook = z2jh_config
    manifest = await _manifest(c, hook, tier, size)
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)

    spec = POLICY.sizes[size]
    labels = manifest["metadata"]["labels"]
    assert labels["nexus/tier"] == tier
    assert labels["nexus/allocation"] == "7"
    container = manifest["spec"]["containers"][0]
    res = container["resources"]
    assert float(res["limits"]["cpu"]) == spec.cpu_limit
    assert float(res["requests"]["cpu"]) == spec.cpu_guarantee
    assert int(res["limits"]["memory"]) == spec.mem_limit_bytes
    assert int(res["requests"]["memory"]) == spec.mem_guarantee_bytes
    assert manifest["spec"]["nodeSelector"] == spec.node_selector
    tolerations = manifest["spec"].get("tolerations") or []
    for t in spec.tolerations:
        assert {k: v for k, v in t.model_dump().items() if v is not None} in tolerations
    volumes = {v["name"]: v for v in manifest["spec"]["volumes"]}
    assert volumes["nexus-efs"]["persistentVolumeClaim"]["claimName"] == "nexus-efs"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/home/jovyan"]["subPath"] == "home/alice"
    assert mounts["/home/jovyan/scratch"]["subPath"] == "scratch/alice"
    assert "/home/jovyan/tutorials" not in mounts  # the image's own copy
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["NEXUS_TIER"] == tier
    assert env["NEXUS_SIZE"] == size
    assert env["SCRATCH_DIR"] == "/home/jovyan/scratch"


async def test_cleanup_mode_manifest_has_the_notice(
    z2jh_config: tuple[Config, QuotaSpawnHook],
) -> None:
    c, hook = z2jh_config
    spawner = KubeSpawner(_mock=True, config=c, user=_user("alice"))
    plan = builders.plan_from_decision("alice", "", allowed("research", "small", cleanup=True))
    assert hook.storage is not None
    hook.storage.apply(spawner, plan)
    manifest = ApiClient().sanitize_for_serialization(await spawner.get_pod_manifest())
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    env = {e["name"]: e.get("value") for e in manifest["spec"]["containers"][0]["env"]}
    assert env["NEXUS_CLEANUP_MODE"] == "1"
    assert env["NEXUS_NOTICE"] == "clean up please"


def test_invalid_manifest_is_caught_by_the_validator() -> None:
    """The strict validation above can fail: an unknown field is rejected."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"bogus": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
