"""The real hub path: z2jh's own hub configuration on the rendered chart, then real spawns.

The whole umbrella chart (z2jh 4.4.0's templates included) is rendered; the hub pod's mounts
and environment are laid out locally (tests/chart/hubpod.py); z2jh's `jupyterhub_config.py`
runs on them exactly as `jupyterhub --config` does in the pod, loading hub_config through
`hub.extraConfig`. Then, for every tier and size and for hostile usernames, the configured
`pre_spawn_hook` asks a running quota service (behind a real JupyterHub that knows the hook
token from the rendered Secret), and KubeSpawner builds the pod manifest, validated strictly.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import kubernetes_validate
import pytest
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import kube_config
from kubespawner import KubeSpawner
from traitlets.config import Config

from hub_config.hook import QuotaSpawnHook
from hub_config.readiness import ReadyPollMixin
from hub_config.userdirs import directory_name
from tests.chart.chartlib import Obj, ci_values, merged_values, render
from tests.chart.hubpod import HubPod
from tests.hub_config.test_kube_manifests import DUMMY_KUBECONFIG
from tests.support.oidc import OidcProvider
from tests.support.quota import QuotaStack
from tests.support.quota_tokens import quota_admin_token

pytestmark = [pytest.mark.chart, pytest.mark.integration]
# One loop for the module: the hook keeps one httpx client, as it does in the hub.
one_loop = pytest.mark.asyncio(loop_scope="module")

K8S_VERSIONS = ("1.32", "1.33", "1.34", "1.35")
HOSTILE_NAMES = ("Jane.Doe@example.org", "o'brien", "李", "a--b", "jane-doe---d48722fc")
TIER_SIZES = [
    ("entry", "small"),
    ("entry", "medium"),
    ("research", "small"),
    ("research", "medium"),
    ("research", "large"),
    ("consortium", "small"),
    ("consortium", "xlarge"),
]


@pytest.fixture(scope="module")
def quota(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QuotaStack]:
    workdir = tmp_path_factory.mktemp("z2jh-quota")
    stack = QuotaStack.start(workdir, f"sqlite:///{workdir / 'quota.sqlite'}")
    try:
        yield stack
    finally:
        stack.stop()


def rendered_for(quota: QuotaStack, provider: OidcProvider) -> list[Obj]:
    values = copy.deepcopy(ci_values("eks-values.yaml"))
    hub = values["jupyterhub"]["hub"]
    hub["extraEnv"]["NEXUS_OIDC_ISSUER"] = provider.issuer
    # z2jh keeps every hub.services token in its Secret; this one is the test hub's.
    hub["services"] = {"quota-hub-hook": {"apiToken": quota.hook_token}}
    return render(values, own_only=False)


@pytest.fixture(scope="module")
def hub_pod(
    quota: QuotaStack, oidc_provider: OidcProvider, tmp_path_factory: pytest.TempPathFactory
) -> HubPod:
    root = tmp_path_factory.mktemp("hub-pod")
    kubeconfig = root / "kubeconfig"
    kubeconfig.write_text(DUMMY_KUBECONFIG)
    pod = HubPod.from_render(
        rendered_for(quota, oidc_provider),
        root,
        services={"nexus-quota": quota.url.removeprefix("http://")},
    )
    pod.env["KUBECONFIG"] = str(kubeconfig)
    return pod


@pytest.fixture(scope="module")
def z2jh_config(hub_pod: HubPod) -> Iterator[Config]:
    mp = pytest.MonkeyPatch()
    # kubernetes_asyncio reads $KUBECONFIG once, at import time.
    mp.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", hub_pod.env["KUBECONFIG"])
    with hub_pod.environment():
        yield hub_pod.load_config()
    mp.undo()


def hook_of(c: Config) -> QuotaSpawnHook:
    hook = c.Spawner.pre_spawn_hook.__self__
    assert isinstance(hook, QuotaSpawnHook)
    return hook


def grant(quota: QuotaStack, username: str, tier: str) -> int | None:
    """Give `username` an allocation of `tier` (Entry needs none); returns its id."""
    admin = quota.api(quota_admin_token(quota, "z2jh-admin"))
    quota.user_token(username)
    if tier == "entry":
        return None
    if tier == "research":
        body = {"username": username, "tier": "research", "reason": "z2jh path"}
        resp = admin.post("admin/allocations", json=body)
        assert resp.status_code == 201, resp.text
        return int(resp.json()["id"])
    resp = admin.post(
        "admin/consortia",
        json={
            "name": f"Team {directory_name(username)}",
            "cpu_hours": 1000,
            "home_quota_soft_gib": 100,
            "home_quota_hard_gib": 120,
            "term_days": 365,
            "leads": [username],
        },
    )
    assert resp.status_code == 201, resp.text
    consortium = resp.json()
    share = admin.put(
        f"consortia/{consortium['id']}/members/{username}/share", json={"cpu_hours_share": 100}
    )
    assert share.status_code == 200, share.text
    mine = quota.api(quota.user_token(username)).get("me")
    assert mine.status_code == 200, mine.text
    (sub,) = [a for a in mine.json()["allocations"] if a["tier"] == "consortium"]
    return int(sub["id"])


async def spawn_manifest(
    c: Config,
    hub_pod: HubPod,
    username: str,
    size: str,
    allocation: int | None,
    release: str | None = None,
) -> dict[str, Any]:
    user = SimpleNamespace(name=username, id=1, url=f"/user/{username}/", groups=[])
    with hub_pod.environment():
        spawner = KubeSpawner(_mock=True, config=c, user=user)
        spawner.user_options = {"profile": size}
        if allocation is not None:
            spawner.user_options["allocation"] = str(allocation)
        if release is not None:
            spawner.user_options["release"] = release
        await spawner.load_user_options()
        await c.Spawner.pre_spawn_hook(spawner)
        manifest = await spawner.get_pod_manifest()
        await c.Spawner.post_stop_hook(spawner)
    return ApiClient().sanitize_for_serialization(manifest)  # type: ignore[no-any-return]


def test_z2jh_config_loads_hub_config_from_the_rendered_chart(z2jh_config: Config) -> None:
    c = z2jh_config
    # KubeSpawner with the start-up readiness check (hub_config/readiness.py)
    assert issubclass(c.JupyterHub.spawner_class, KubeSpawner)
    assert issubclass(c.JupyterHub.spawner_class, ReadyPollMixin)
    assert callable(c.KubeSpawner.profile_list)
    # z2jh's culler and the chart's services are both there, each once.
    names = [s["name"] for s in c.JupyterHub.services]
    assert sorted(names) == sorted(set(names))
    assert {"quota", "quota-hub-hook", "quota-jobs", "jupyterhub-idle-culler"} <= set(names)
    # The hub owns EFS: z2jh mounts nothing of it.
    assert dict(c.KubeSpawner.volumes) == {}
    assert dict(c.KubeSpawner.volume_mounts) == {}


def test_oauth_callback_comes_from_the_ingress_host(z2jh_config: Config) -> None:
    # Behind the ALB a derived URL would be http:// (X-Forwarded-Proto "https,http").
    assert (
        z2jh_config.GenericOAuthenticator.oauth_callback_url
        == "https://nexus.roman.example.org/hub/oauth_callback"
    )


def _efs_claim_volumes(manifest: dict[str, Any]) -> dict[str, str]:
    return {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in manifest["spec"].get("volumes", [])
        if "persistentVolumeClaim" in v
    }


def _assert_manifest(
    manifest: dict[str, Any], c: Config, username: str, size: str, tier: str
) -> None:
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(manifest, version, strict=True)
    claims = _efs_claim_volumes(manifest)
    assert sorted(claims.values()) == sorted(set(claims.values())), "one volume per claim"
    # Homes, scratch and the read-only trees; team folders (a consortium lead's) through the
    # teams claim, checked in test_team_folders_chart.py.
    assert set(claims.values()) == (
        {"nexus-efs", "nexus-teams"} if tier == "consortium" else {"nexus-efs"}
    )
    (container,) = manifest["spec"]["containers"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"] if m["name"] in claims}
    values = merged_values(ci_values("eks-values.yaml"))
    directory = directory_name(username)
    assert mounts["/home/jovyan"]["subPath"] == f"{values['efs']['homeDir']}/{directory}"
    assert mounts["/home/jovyan/scratch"]["subPath"] == f"{values['efs']['scratchDir']}/{directory}"
    assert "/home/jovyan/tutorials" not in {m["mountPath"] for m in container["volumeMounts"]}
    # The tutorials CronJob's folder, read-only where the image's ~/tutorials link points.
    tutorials = mounts["/opt/nexus/tutorials"]
    assert tutorials["subPath"] == values["tutorials"]["efsDir"] and tutorials["readOnly"] is True
    # The CRDS cache the crds-sync CronJob fills, read-only where the image's CRDS_PATH points.
    crds = mounts["/crds"]
    assert crds["subPath"] == values["crdsCache"]["efsDir"] and crds["readOnly"] is True
    tolerations = manifest["spec"]["tolerations"]
    # z2jh's user-pod toleration stays beside the size's.
    assert {"key": "hub.jupyter.org/dedicated", "operator": "Equal", "value": "user"}.items() <= (
        next(t for t in tolerations if t["key"] == "hub.jupyter.org/dedicated").items()
    )
    if size != "small":
        assert any(t["key"] == "nexus.roman/size" and t.get("value") == size for t in tolerations)
    assert manifest["spec"]["serviceAccountName"] == "nexus-user"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["NEXUS_TIER"] == tier
    assert env["NEXUS_SIZE"] == size
    assert env["NEXUS_QUOTA_FAIL_OPEN"] == "0"
    assert env["SCRATCH_DIR"] == "/home/jovyan/scratch"
    assert manifest["metadata"]["labels"]["nexus/tier"] == tier


@one_loop
@pytest.mark.parametrize(("tier", "size"), TIER_SIZES)
async def test_every_tier_and_size_spawns_through_z2jh_config(
    z2jh_config: Config, hub_pod: HubPod, quota: QuotaStack, tier: str, size: str
) -> None:
    username = f"{tier}-{size}.user"
    allocation = grant(quota, username, tier)
    manifest = await spawn_manifest(z2jh_config, hub_pod, username, size, allocation)
    _assert_manifest(manifest, z2jh_config, username, size, tier)


@one_loop
@pytest.mark.parametrize("username", HOSTILE_NAMES)
async def test_hostile_usernames_get_their_own_directories(
    z2jh_config: Config, hub_pod: HubPod, quota: QuotaStack, username: str
) -> None:
    grant(quota, username, "entry")
    manifest = await spawn_manifest(z2jh_config, hub_pod, username, "small", None)
    _assert_manifest(manifest, z2jh_config, username, "small", "entry")


@one_loop
@pytest.mark.parametrize("release", [None, "2026.2", "2026.1"])
async def test_the_pod_runs_the_chosen_releases_image(
    z2jh_config: Config, hub_pod: HubPod, quota: QuotaStack, release: str | None
) -> None:
    """Issue 16 item 5: one image per release (quota.policy.releases); none chosen: current."""
    username = f"release-{release or 'default'}"
    grant(quota, username, "entry")
    manifest = await spawn_manifest(z2jh_config, hub_pod, username, "small", None, release)
    _assert_manifest(manifest, z2jh_config, username, "small", "entry")
    releases = {
        r["id"]: r
        for r in merged_values(ci_values("eks-values.yaml"))["quota"]["policy"]["releases"]
    }
    chosen = releases[release or "2026.2"]
    (container,) = manifest["spec"]["containers"]
    assert container["image"] == f"{chosen['image']['name']}:{chosen['image']['tag']}"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["NEXUS_RELEASE"] == chosen["id"]
    assert env["NEXUS_RELEASE_NAME"] == chosen["display_name"]


def test_the_quota_service_accepts_what_the_rule_maps_and_refuses_the_rest(
    quota: QuotaStack,
) -> None:
    hook = httpx.Client(
        base_url=quota.api_url, headers={"Authorization": f"token {quota.hook_token}"}
    )
    too_long = "é" * 50  # 100 bytes, 300 once encoded
    resp = hook.post(
        "hub/spawn-decisions", json={"username": too_long, "server_name": "", "size": "small"}
    )
    assert resp.status_code == 422, resp.text
    assert "too long to name a directory" in resp.text
