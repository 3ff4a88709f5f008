"""Team folders through the hub: the real hook asks a running quota service, then KubeSpawner's
real `get_pod_manifest()` (dummy KUBECONFIG, `_mock=True`) or the local applier on real files
puts the person's uid and teams on the server (issue 17 part 2)."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import kubernetes_validate
import pytest
from jupyterhub.spawner import SimpleLocalProcessSpawner
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import kube_config
from kubespawner import KubeSpawner
from traitlets.config import Config

from hub_config import builders
from hub_config.apply import LocalApplier
from hub_config.hook import SpawnRefused
from hub_config.quota_client import Team
from hub_config.settings import HubSettings
from hub_config.z2jh import configure
from tests.hub_config.helpers import allowed
from tests.hub_config.test_kube_manifests import DUMMY_KUBECONFIG
from tests.support.quota import QuotaStack
from tests.support.quota_tokens import quota_admin_token

pytestmark = pytest.mark.integration
one_loop = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def quota(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QuotaStack]:
    workdir = tmp_path_factory.mktemp("teams-quota")
    stack = QuotaStack.start(workdir, f"sqlite:///{workdir / 'quota.sqlite'}")
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def z2jh(quota: QuotaStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Config]:
    root = tmp_path_factory.mktemp("kube")
    kubeconfig = root / "kubeconfig"
    kubeconfig.write_text(DUMMY_KUBECONFIG)
    mp = pytest.MonkeyPatch()
    mp.setenv("KUBECONFIG", str(kubeconfig))
    mp.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    mp.setenv("JUPYTERHUB_CRYPT_KEY", secrets.token_hex(32))
    mp.setenv("NEXUS_QUOTA_HOOK_TOKEN", quota.hook_token)
    custom = {
        "oidc_authorize_url": "https://myst.example.org/authorize",
        "oidc_token_url": "https://myst.example.org/token",
        "oidc_userinfo_url": "https://myst.example.org/userinfo",
        "home_pvc_name": "nexus-efs",
        "teams_pvc_name": "nexus-teams",
        "teams_subdir": "teams",
        "quota_url": quota.quota_url,
    }
    c = Config()

    def get_config(key: str, default: Any = None) -> Any:
        return {"custom.nexus": custom}.get(key, default)

    configure(c, get_config)
    yield c
    mp.undo()


def admin(quota: QuotaStack) -> Any:
    return quota.api(quota_admin_token(quota, "teams-admin"))


def make_team(quota: QuotaStack, name: str, lead: str) -> dict[str, Any]:
    resp = admin(quota).post(
        "admin/consortia",
        json={
            "name": name,
            "cpu_hours": 1000,
            "home_quota_soft_gib": 100,
            "home_quota_hard_gib": 120,
            "term_days": 365,
            "leads": [lead],
        },
    )
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def manifest(
    c: Config, username: str, server: str = "", options: dict[str, str] | None = None
) -> dict[str, Any]:
    user = SimpleNamespace(name=username, id=1, url=f"/user/{username}/", groups=[])
    spawner = KubeSpawner(_mock=True, config=c, user=user, name=server)
    spawner.user_options = {"profile": "small", **(options or {})}
    await spawner.load_user_options()
    await c.Spawner.pre_spawn_hook(spawner)
    pod = await spawner.get_pod_manifest()
    await c.Spawner.post_stop_hook(spawner)
    out = ApiClient().sanitize_for_serialization(pod)
    kubernetes_validate.validate(out, "1.32", strict=True)
    return dict(out)


def team_mounts(pod: dict[str, Any]) -> dict[str, str]:
    (container,) = pod["spec"]["containers"]
    return {
        m["mountPath"]: m["subPath"]
        for m in container["volumeMounts"]
        if m["mountPath"].startswith("/teams/")
    }


def entry_id(quota: QuotaStack, username: str) -> str:
    mine = quota.api(quota.user_token(username)).get("me")
    assert mine.status_code == 200, mine.text
    return str(next(a["id"] for a in mine.json()["allocations"] if a["tier"] == "entry"))


@one_loop
async def test_a_members_pod_mounts_every_team_and_runs_as_the_person(
    quota: QuotaStack, z2jh: Config
) -> None:
    first = make_team(quota, "Deep Field", "mara")
    second = make_team(quota, "Grism Team", "gus")
    added = admin(quota).post(
        f"consortia/{second['id']}/members",
        json={"username": "mara", "role": "member", "cpu_hours_share": 0},
    )
    assert added.status_code in (200, 201), added.text
    # Charged to her Entry allocation: both teams are mounted all the same.
    pod = await manifest(z2jh, "mara", options={"allocation": entry_id(quota, "mara")})
    decision = (
        quota.api(quota.hook_token)
        .post(
            "hub/spawn-decisions",
            json={
                "username": "mara",
                "size": "small",
                "allocation_id": int(entry_id(quota, "mara")),
            },
        )
        .json()
    )
    quota.api(quota.hook_token).post("hub/sessions/stop", json={"username": "mara"})
    teams = {t["name"]: t for t in decision["teams"]}
    assert set(teams) == {"Deep Field", "Grism Team"}
    assert first["id"] != second["id"]
    mounts = team_mounts(pod)
    assert mounts == {f"/teams/{t['team_dir']}": f"teams/{t['team_dir']}" for t in teams.values()}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["nexus-teams"]["persistentVolumeClaim"]["claimName"] == "nexus-teams"
    (container,) = pod["spec"]["containers"]
    assert container["securityContext"]["runAsUser"] == decision["uid"] > 200000
    assert container["securityContext"]["runAsGroup"] == 100
    groups = pod["spec"]["securityContext"]["supplementalGroups"]
    assert sorted(groups) == sorted(t["gid"] for t in teams.values())


@one_loop
async def test_a_non_member_gets_no_team_mount_and_no_team_group(
    quota: QuotaStack, z2jh: Config
) -> None:
    team = make_team(quota, "Closed Team", "cleo")
    # Forged server names (a team's name, a path) and a team's pool change nothing.
    for server in ("", "closed-team", "..-teams"):
        pod = await manifest(z2jh, "nico", server)
        assert team_mounts(pod) == {}, server
        assert not (pod["spec"].get("securityContext") or {}).get("supplementalGroups"), server
        # Still the person's own uid: files they make anywhere map back to them.
        assert pod["spec"]["containers"][0]["securityContext"]["runAsUser"] > 200000
        assert not any(v["name"] == "nexus-teams" for v in pod["spec"].get("volumes", []))
    refused = quota.api(quota.hook_token).post(
        "hub/spawn-decisions",
        json={"username": "nico", "size": "small", "allocation_id": team["pool"]["id"]},
    )
    assert refused.status_code == 200 and refused.json()["code"] == "not_your_allocation"
    # Through the hook: the team's pool as the chosen allocation refuses the spawn; the
    # spawner keeps no team mount, group or claim.
    user = SimpleNamespace(name="nico", id=1, url="/user/nico/", groups=[])
    spawner = KubeSpawner(_mock=True, config=z2jh, user=user)
    spawner.user_options = {"profile": "small", "allocation": str(team["pool"]["id"])}
    await spawner.load_user_options()
    with pytest.raises(SpawnRefused) as refusal:
        await z2jh.Spawner.pre_spawn_hook(spawner)
    assert refusal.value.status_code == 403 and "not one of yours" in str(refusal.value.log_message)
    pod = ApiClient().sanitize_for_serialization(await spawner.get_pod_manifest())
    assert team_mounts(pod) == {} and not spawner.supplemental_gids


@one_loop
async def test_leaving_drops_the_mount_from_the_next_start(quota: QuotaStack, z2jh: Config) -> None:
    team = make_team(quota, "Leavers", "lena")
    added = admin(quota).post(
        f"consortia/{team['id']}/members",
        json={"username": "leo", "role": "member", "cpu_hours_share": 0},
    )
    assert added.status_code in (200, 201), added.text
    user = SimpleNamespace(name="leo", id=1, url="/user/leo/", groups=[])
    # One spawner across two starts, as the hub keeps it.
    spawner = KubeSpawner(_mock=True, config=z2jh, user=user)
    spawner.user_options = {"profile": "small", "allocation": entry_id(quota, "leo")}
    await spawner.load_user_options()
    await z2jh.Spawner.pre_spawn_hook(spawner)
    before = ApiClient().sanitize_for_serialization(await spawner.get_pod_manifest())
    await z2jh.Spawner.post_stop_hook(spawner)
    assert len(team_mounts(before)) == 1
    gone = admin(quota).delete(f"consortia/{team['id']}/members/leo")
    assert gone.status_code in (200, 204), gone.text
    await z2jh.Spawner.pre_spawn_hook(spawner)
    after = ApiClient().sanitize_for_serialization(await spawner.get_pod_manifest())
    await z2jh.Spawner.post_stop_hook(spawner)
    assert team_mounts(after) == {}
    assert not (after["spec"].get("securityContext") or {}).get("supplementalGroups")


# --- local (make dev): links in the home, on real files -------------------------------------
def local_spawner(settings: HubSettings) -> SimpleLocalProcessSpawner:
    user = SimpleNamespace(name="alice", id=1, url="/user/alice/", groups=[])
    return SimpleLocalProcessSpawner(user=user, home_dir_template=str(settings.local_homes))


def test_the_local_applier_links_current_teams_and_unlinks_left_ones(tmp_path: Path) -> None:
    settings = HubSettings(state_dir=tmp_path / "state")
    teams_root = settings.local_teams
    for name in ("galaxies", "grism", "other"):
        (teams_root / name).mkdir(parents=True)
    applier = LocalApplier(settings)
    spawner = local_spawner(settings)
    both = (
        Team(name="G", team_dir="galaxies", gid=60001),
        Team(name="R", team_dir="grism", gid=60002),
    )
    plan = builders.plan_from_decision("alice", "", allowed("entry", "small"))
    applier.apply(spawner, _with_teams(plan, both))
    links = settings.local_homes / "alice" / "teams"
    assert sorted(os.listdir(links)) == ["galaxies", "grism"]
    assert (links / "galaxies").resolve() == teams_root / "galaxies"
    # The person's own things in ~/teams are never touched; a link elsewhere stays too.
    (links / "notes.txt").write_text("mine")
    (links / "elsewhere").symlink_to(tmp_path)
    (teams_root / "galaxies" / "kept.txt").write_text("data")
    # Left "grism": its link goes at the next start, the folder and its files stay.
    applier.apply(spawner, _with_teams(plan, both[:1]))
    assert sorted(os.listdir(links)) == ["elsewhere", "galaxies", "notes.txt"]
    assert (teams_root / "grism").is_dir()
    assert (links / "galaxies" / "kept.txt").read_text() == "data"
    # A team whose folder is not made yet gets no (dangling) link; it comes at a later start.
    fresh = Team(name="N", team_dir="newteam", gid=60003)
    applier.apply(spawner, _with_teams(plan, (both[0], fresh)))
    assert sorted(os.listdir(links)) == ["elsewhere", "galaxies", "notes.txt"]
    (teams_root / "newteam").mkdir()
    applier.apply(spawner, _with_teams(plan, (both[0], fresh)))
    assert sorted(os.listdir(links)) == ["elsewhere", "galaxies", "newteam", "notes.txt"]
    # A forged team_dir never becomes a path.
    forged = (Team(name="x", team_dir="../../etc", gid=1), Team(name="y", team_dir="other", gid=0))
    assert builders.safe_teams(list(forged)) == ()
    applier.apply(spawner, _with_teams(plan, builders.safe_teams(list(forged))))
    assert sorted(os.listdir(links)) == ["elsewhere", "notes.txt"]
    assert (teams_root / "newteam").is_dir() and (teams_root / "galaxies" / "kept.txt").is_file()


def test_local_lab_servers_start_with_umask_0002(tmp_path: Path) -> None:
    settings = HubSettings(state_dir=tmp_path / "state")
    spawner = local_spawner(settings)
    plan = builders.plan_from_decision("alice", "", allowed("entry", "small"))
    LocalApplier(settings).apply(spawner, plan)
    assert spawner.popen_kwargs["umask"] == 0o002
    out = subprocess.run(
        ["sh", "-c", "umask"], capture_output=True, text=True, check=True, **spawner.popen_kwargs
    )
    assert out.stdout.strip() == "0002"


def _with_teams(plan: builders.SpawnPlan, teams: tuple[Team, ...]) -> builders.SpawnPlan:
    return replace(plan, teams=teams)


def test_the_pure_builders_for_teams_on_off_and_fail_open() -> None:
    on = HubSettings(teams_pvc_name="nexus-teams", teams_subdir="groups", teams_mount_path="/t")
    off = HubSettings()
    team = Team(name="G", team_dir="galaxies", gid=60001)
    plan = _with_teams(builders.plan_from_decision("al", "", allowed("entry", "small")), (team,))
    assert builders.identity(on, plan) == {"uid": 200041, "gid": 100, "supplemental_gids": [60001]}
    assert builders.team_volumes(on, plan.teams) == (
        [{"name": "nexus-teams", "persistentVolumeClaim": {"claimName": "nexus-teams"}}],
        [{"name": "nexus-teams", "mountPath": "/t/galaxies", "subPath": "groups/galaxies"}],
    )
    # Team folders off: the image's user, no claim.
    assert builders.identity(off, plan) == {}
    assert builders.team_volumes(off, plan.teams) == ([], [])
    # Fail-open (no decision): no uid from the service, and an earlier start's groups go.
    fallback = builders.fail_open_plan("al", "", off.fallback_size)
    assert builders.identity(on, fallback) == {"supplemental_gids": []}
    assert builders.team_volumes(on, fallback.teams) == ([], [])
