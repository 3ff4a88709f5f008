"""Named servers on the production path: the rendered chart turns them on, z2jh's own
`jupyterhub_config.py` (loading hub_config) keeps them on with the quota service's limit, and a
named server's KubeSpawner pod is its own session in the ledger."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import kubernetes_validate
import pytest
from kubernetes_asyncio.client import ApiClient
from kubespawner import KubeSpawner
from traitlets.config import Config

from hub_config.named_servers import NamedServerLimit, ServerBoard
from tests.chart import test_z2jh_hub as z2jh_hub
from tests.chart.chartlib import ci_values, merged_values
from tests.chart.hubpod import HubPod
from tests.support.quota import QuotaStack

pytestmark = [pytest.mark.chart, pytest.mark.integration]


def open_sessions(quota: QuotaStack, username: str) -> dict[str, dict[str, Any]]:
    """`username`'s open sessions by server name, as the hub's hook token reads them."""
    with quota.api(quota.hook_token) as hook:
        resp = hook.get("hub/sessions")
    resp.raise_for_status()
    return {s["server_name"]: s for s in resp.json() if s["username"] == username}


# That module's fixtures: one rendered chart, hub pod and quota service per module.
quota = z2jh_hub.quota
hub_pod = z2jh_hub.hub_pod
z2jh_config = z2jh_hub.z2jh_config
one_loop = z2jh_hub.one_loop
grant = z2jh_hub.grant
K8S_VERSIONS = z2jh_hub.K8S_VERSIONS


def test_the_chart_turns_named_servers_on() -> None:
    for values in (merged_values(), merged_values(ci_values("eks-values.yaml"))):
        hub = values["jupyterhub"]["hub"]
        assert hub["allowNamedServers"] is True
        # The limit is the quota service's (a callable in hub_config), never a constant here.
        assert hub.get("namedServerLimitPerUser") is None


def test_z2jh_config_has_named_servers_with_the_quota_services_limit(
    z2jh_config: Config,
) -> None:
    c = z2jh_config
    assert c.JupyterHub.allow_named_servers is True
    assert isinstance(c.JupyterHub.named_server_limit_per_user, NamedServerLimit)
    assert isinstance(c.JupyterHub.template_vars["nexus_servers"], ServerBoard)


@one_loop
async def test_the_limit_follows_each_persons_allocations(
    z2jh_config: Config, quota: QuotaStack
) -> None:
    limit = z2jh_config.JupyterHub.named_server_limit_per_user
    grant(quota, "named-entry", "entry")
    grant(quota, "named-research", "research")
    grant(quota, "named-team", "consortium")
    assert await limit.limit("named-entry") == 1
    assert await limit.limit("named-research") == 2
    assert await limit.limit("named-team") == 4


@one_loop
async def test_a_named_servers_pod_is_its_own_session(
    z2jh_config: Config, hub_pod: HubPod, quota: QuotaStack
) -> None:
    c = z2jh_config
    username = "named-pods"
    research = grant(quota, username, "research")
    user = SimpleNamespace(name=username, id=7, url=f"/user/{username}/", groups=[])
    manifests = {}
    spawners = []
    with hub_pod.environment():
        for name, size in (("", "small"), ("analysis", "large")):
            # The hub's server row gives a spawner its name (Spawner.name reads orm_spawner).
            row = SimpleNamespace(name=name, server=None, last_activity=None) if name else None
            spawner = KubeSpawner(_mock=True, config=c, user=user, orm_spawner=row)
            assert spawner.name == name
            spawner.user_options = {"profile": size, "allocation": str(research)}
            await spawner.load_user_options()
            await c.Spawner.pre_spawn_hook(spawner)
            manifests[name] = ApiClient().sanitize_for_serialization(
                await spawner.get_pod_manifest()
            )
            spawners.append(spawner)
    sessions = open_sessions(quota, username)
    assert {n: (s["size"], s["allocation_id"]) for n, s in sessions.items()} == {
        "": ("small", research),
        "analysis": ("large", research),
    }
    default_pod, named_pod = manifests[""], manifests["analysis"]
    for manifest in (default_pod, named_pod):
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(manifest, version, strict=True)
    assert default_pod["metadata"]["name"] != named_pod["metadata"]["name"]
    assert "analysis" in named_pod["metadata"]["name"]
    (container,) = named_pod["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["NEXUS_SIZE"] == "large" and env["NEXUS_TIER"] == "research"
    with hub_pod.environment():
        for spawner in spawners:
            await c.Spawner.post_stop_hook(spawner)
    assert open_sessions(quota, username) == {}
