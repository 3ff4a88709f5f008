"""Team folders in the chart (issue 17 part 2): the teams claims on their own access points, the
teams-sync CronJob, the checks that keep hub values and chart objects in step, and the real
z2jh hub path: the rendered hub config's spawn hook and KubeSpawner's pod for a member and a
non-member of a team."""

from __future__ import annotations

import copy
from typing import Any

import helm_python
import kubernetes_validate
import pytest
from traitlets.config import Config

from tests.chart.chartlib import NAMESPACE, Obj, by_kind, ci_values, merged_values, pod_spec, render
from tests.chart.hubpod import HubPod
from tests.chart.test_security import security_findings
from tests.chart.test_z2jh_hub import (  # noqa: F401 - module fixtures, used by name
    grant,
    hub_pod,
    quota,
    spawn_manifest,
    z2jh_config,
)
from tests.support.quota import QuotaStack

pytestmark = pytest.mark.chart
one_loop = pytest.mark.asyncio(loop_scope="module")

TEAMS_CLAIM, ADMIN_CLAIM = "nexus-teams", "nexus-teams-admin"
SYNC = "nexus-quota-teams-sync"


def _claims_of(obj: Obj) -> set[str]:
    return {
        v["persistentVolumeClaim"]["claimName"]
        for v in pod_spec(obj).get("volumes", [])
        if "persistentVolumeClaim" in v
    }


def test_the_teams_claims_go_through_their_own_access_points() -> None:
    values = ci_values("eks-values.yaml")
    efs = merged_values(values)["efs"]
    objects = render(values)
    volumes, claims = (
        by_kind(objects, "PersistentVolume"),
        by_kind(objects, "PersistentVolumeClaim"),
    )
    for claim, point in (
        (TEAMS_CLAIM, "teamsAccessPointId"),
        (ADMIN_CLAIM, "teamsAdminAccessPointId"),
    ):
        volume = volumes[f"{claim}-{NAMESPACE}"]
        assert volume["spec"]["csi"] == {
            "driver": "efs.csi.aws.com",
            "volumeHandle": f"{efs['fileSystemId']}::{efs[point]}",
        }
        assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
        assert volume["spec"]["claimRef"] == {"namespace": NAMESPACE, "name": claim}
        assert claims[claim]["spec"]["volumeName"] == f"{claim}-{NAMESPACE}"
        assert claims[claim]["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    # Three different access points: the homes' one enforces uid 1000 / gid 100.
    assert (
        len({efs["accessPointId"], efs["teamsAccessPointId"], efs["teamsAdminAccessPointId"]}) == 3
    )


def test_only_the_sync_and_storage_jobs_mount_the_admin_claim_and_nothing_the_teams_claim() -> None:
    values = ci_values("eks-values.yaml")
    efs = merged_values(values)["efs"]
    objects = render(values)
    workloads = {
        o["metadata"]["name"]: o for o in objects if o["kind"] in {"Deployment", "Job", "CronJob"}
    }
    using = {name: _claims_of(o) & {TEAMS_CLAIM, ADMIN_CLAIM} for name, o in workloads.items()}
    # User pods (made by the hub, not the chart) are the only ones to mount the teams claim.
    # The storage jobs read (scan, purge-plan) and archive (purge-execute) the team folders
    # through the admin claim (tests/chart/test_storage_shards_chart.py checks their mounts).
    storage = ("nexus-quota-scan", "nexus-quota-purge-plan", "nexus-quota-purge-execute")
    assert {n: c for n, c in using.items() if c} == {
        SYNC: {ADMIN_CLAIM},
        **{name: {ADMIN_CLAIM} for name in storage},
    }
    sync = workloads[SYNC]
    assert sync["spec"]["schedule"] == "*/10 * * * *"
    assert sync["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = pod_spec(sync)["containers"]
    assert container["command"] == ["nexus-quota", "teams", "sync"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["NEXUS_QUOTA_TEAMS__ROOT"] == "/srv/nexus/teams"
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "teams-admin"]
    assert mount == {
        "name": "teams-admin",
        "mountPath": "/srv/nexus/teams",
        "subPath": efs["teamsDir"],
    }
    # Not root and no capability: root exists only on EFS, through the admin access point.
    assert security_findings(SYNC, sync) == []


def test_without_the_teams_access_point_there_are_no_team_objects() -> None:
    objects = render(ci_values("minimal-values.yaml"))
    assert not {TEAMS_CLAIM, ADMIN_CLAIM} & set(by_kind(objects, "PersistentVolumeClaim"))
    assert SYNC not in by_kind(objects, "CronJob")


def _broken(change: Any) -> Obj:
    values = copy.deepcopy(ci_values("eks-values.yaml"))
    change(values)
    return values


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda v: v["efs"].pop("teamsAdminAccessPointId"),
            "efs.teamsAdminAccessPointId is required with efs.teamsAccessPointId",
        ),
        (
            lambda v: v["jupyterhub"]["custom"]["nexus"].update(teams_pvc_name="other"),
            'teams_pvc_name is "other" but must be "nexus-teams"',
        ),
        (
            lambda v: v["jupyterhub"]["custom"]["nexus"].update(teams_subdir="groups"),
            'teams_subdir is "groups" but must equal efs.teamsDir "teams"',
        ),
        (
            lambda v: v["efs"].pop("teamsAccessPointId"),
            'teams_pvc_name is "nexus-teams" but efs.teamsAccessPointId is unset',
        ),
        (
            lambda v: v["efs"].update(teamsAccessPointId="not-an-access-point"),
            "teamsAccessPointId",
        ),
    ],
    ids=["no-admin-ap", "wrong-claim", "wrong-subdir", "claim-without-ap", "bad-ap-id"],
)
def test_bad_team_values_refuse_to_render(change: Any, message: str) -> None:
    with pytest.raises(helm_python.HelmError, match=message):
        render(_broken(change))


# --- the real hub path: rendered z2jh config, the hook, KubeSpawner ------------------------
def _team_mounts(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (container,) = manifest["spec"]["containers"]
    volumes = {v["name"]: v for v in manifest["spec"].get("volumes", [])}
    return {
        m["mountPath"]: {
            "subPath": m["subPath"],
            "claim": volumes[m["name"]]["persistentVolumeClaim"]["claimName"],
        }
        for m in container["volumeMounts"]
        if m["mountPath"].startswith("/teams/")
    }


@pytest.mark.integration
@one_loop
async def test_the_z2jh_hub_mounts_a_members_team_and_not_a_non_members(
    z2jh_config: Config,  # noqa: F811
    hub_pod: HubPod,  # noqa: F811
    quota: QuotaStack,  # noqa: F811
) -> None:
    lead = "team-lead"
    sub = grant(quota, lead, "consortium")  # a consortium named after them, they lead it
    decision = quota.api(quota.hook_token).post(
        "hub/spawn-decisions", json={"username": lead, "size": "small", "allocation_id": sub}
    )
    assert decision.status_code == 200 and decision.json()["allowed"], decision.text
    (team,) = decision.json()["teams"]
    quota.api(quota.hook_token).post("hub/sessions/stop", json={"username": lead})
    teams_dir = merged_values(ci_values("eks-values.yaml"))["efs"]["teamsDir"]

    member = await spawn_manifest(z2jh_config, hub_pod, lead, "small", sub)
    for version in ("1.32", "1.35"):
        kubernetes_validate.validate(member, version, strict=True)
    assert _team_mounts(member) == {
        f"/teams/{team['team_dir']}": {
            "subPath": f"{teams_dir}/{team['team_dir']}",
            "claim": TEAMS_CLAIM,
        }
    }
    assert member["spec"]["securityContext"]["supplementalGroups"] == [team["gid"]]
    (container,) = member["spec"]["containers"]
    assert container["securityContext"]["runAsUser"] == decision.json()["uid"]
    assert container["securityContext"]["runAsGroup"] == 100

    outsider = "not-in-team"
    grant(quota, outsider, "entry")
    other = await spawn_manifest(z2jh_config, hub_pod, outsider, "small", None)
    assert _team_mounts(other) == {}
    assert not (other["spec"].get("securityContext") or {}).get("supplementalGroups")
    claims = {v.get("persistentVolumeClaim", {}).get("claimName") for v in other["spec"]["volumes"]}
    assert TEAMS_CLAIM not in claims
