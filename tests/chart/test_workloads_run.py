"""Run what the chart wires: every quota-image workload's rendered command, env and mounts.

The whole chart (z2jh included, for the hub Secret's service tokens) is rendered for a test
install: PostgreSQL at 127.0.0.1 (a fresh, empty database), moto's S3 over HTTP for the home
archive, an SMTP server on loopback, a real JupyterHub for tokens, one local folder standing in
for EFS. Then the storage story runs on those workloads only (tests/chart/podrun.py): migrate →
serve → scan → purge plan → notify → execute (confirmed) → reconcile, expire → sign-in restores
the archived home (the hub hook against the Deployment's `serve`) → the person sees the purge
file list in the pages and the API. Nothing is set up around them but the world they act on:
the person's files and their last sign-in 200 days ago.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text

from dev.settings import local_url, new_secrets
from hub_config.hook import QuotaSpawnHook
from tests.chart.chartlib import Obj, by_kind, ci_values, deep_merge, pod_spec, render
from tests.chart.podrun import EFS_GID, EFS_UID, PodRunner
from tests.storage.conftest import Inbox
from tests.support.databases import DatabaseFactory
from tests.support.hub import HubInstance
from tests.support.processes import TEST_OUTPUT, PollTimeout, free_port, poll_until
from tests.support.quota import start_token_hub
from tests.support.s3 import S3Endpoint

pytestmark = [pytest.mark.chart, pytest.mark.integration, pytest.mark.slow]

HUB_SECRET = "hub"
TOKEN_KEY = "hub.services.{}.apiToken"
PREFIX = "/services/quota/"


@dataclass
class World:
    objects: list[Obj]
    pods: PodRunner
    efs: Path
    hub: HubInstance
    admin_token: str
    inbox: Inbox
    db_url: str
    workdir: Path

    def workload(self, kind: str, name: str) -> Obj:
        return by_kind(self.objects, kind)[name]

    def run_job(self, name: str) -> subprocess.CompletedProcess[str]:
        result = self.pods.run(self.workload("CronJob", f"nexus-quota-{name}"))
        (self.workdir / f"{name}.log").write_text(result.stdout + result.stderr)
        return result

    def token(self, service: str) -> str:
        return self.pods.secret_values[(HUB_SECRET, TOKEN_KEY.format(service))]

    def user_token(self, name: str) -> str:
        with self.hub.api(self.admin_token) as hub:
            assert hub.post(f"users/{name}").status_code in (201, 409)
            resp = hub.post(f"users/{name}/tokens", json={"note": "tests"})
            resp.raise_for_status()
            return str(resp.json()["token"])


@pytest.fixture
def world(databases: DatabaseFactory, s3_server: S3Endpoint) -> Iterator[World]:
    workdir = TEST_OUTPUT / "chart" / "workloads" / secrets.token_hex(4)
    workdir.mkdir(parents=True)
    efs = workdir / "efs"
    efs.mkdir()
    bucket = f"home-archive-{secrets.token_hex(4)}"
    s3_server.client().create_bucket(Bucket=bucket)
    inbox = Inbox("127.0.0.1", free_port())
    smtp = Controller(inbox, hostname=inbox.host, port=inbox.port)
    smtp.start()
    db_url = databases.empty("postgresql")
    # The chart's three services with tokens of our choosing, known to a real hub first.
    hub_secrets = new_secrets()
    tokens = {
        "quota": hub_secrets["quota_service_token"],
        "quota-hub-hook": hub_secrets["quota_hook_token"],
        "quota-jobs": hub_secrets["quota_jobs_token"],
    }
    admin = hub_secrets["admin_token"]
    hub = start_token_hub(workdir / "hub", hub_secrets, local_url(free_port(), PREFIX))
    values = deep_merge(
        ci_values("minimal-values.yaml"),
        {
            "secrets": {"databaseUrl": db_url, "sessionSecret": secrets.token_hex(32)},
            "quota": {
                "hubApiUrl": hub.api_url,
                "config": {
                    "public_url": "https://nexus.roman.example.org",
                    "archive": {"bucket": bucket, "endpoint_url": s3_server.url},
                    "smtp": {"host": inbox.host, "port": inbox.port, "starttls": False},
                },
                # Notices at the action time itself: the story need not wait a week.
                "policy": {"notices": {"lead_days": [0]}},
                # IRSA's roles; here moto's static keys below stand in for both.
                "serviceAccount": {"roleArn": "arn:aws:iam::123456789012:role/archive-read"},
            },
            "jobs": {
                "purgeExecute": {
                    "confirm": True,
                    "serviceAccount": {"roleArn": "arn:aws:iam::123456789012:role/archive-write"},
                }
            },
            "jupyterhub": {"hub": {"services": {s: {"apiToken": t} for s, t in tokens.items()}}},
        },
    )
    objects = render(values, own_only=False)
    pods = PodRunner(
        objects,
        efs,
        workdir,
        # What EKS gives the Deployment's and purge-execute's accounts through IRSA, here
        # moto's static keys.
        extra_env={k: v for k, v in s3_server.env().items() if k.startswith("AWS_")},
    )
    try:
        yield World(objects, pods, efs, hub, admin, inbox, db_url, workdir)
    finally:
        hub.stop()
        smtp.stop()


def _serve(world: World, deployment: Obj, name: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    # The pod's own IP and port: each started copy listens on a free port of its own.
    world.pods.extra_env.update(
        {"NEXUS_QUOTA_BIND_HOST": "127.0.0.1", "NEXUS_QUOTA_BIND_PORT": str(port)}
    )
    proc = world.pods.start(deployment, world.workdir / f"{name}.log")
    url = f"http://127.0.0.1:{port}{PREFIX}"

    def health() -> int | str:
        assert proc.poll() is None, (world.workdir / f"{name}.log").read_text()
        try:
            return httpx.get(url + "api/v1/health", timeout=2).status_code
        except httpx.TransportError as exc:
            return type(exc).__name__

    try:
        poll_until(
            health,
            60,
            message=f"{name} did not answer",
            until=lambda s: isinstance(s, int) and s < 500,
        )
    except PollTimeout:
        raise AssertionError((world.workdir / f"{name}.log").read_text()) from None
    return proc, url


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, 15)
    proc.wait(timeout=30)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


async def _sign_in(url: str, token: str, username: str) -> SimpleNamespace:
    """The hub's spawn hook, as configured in the hub pod, against the service's URL."""
    hook = QuotaSpawnHook(quota_url=url, api_token=token, restore_poll_seconds=0.2)
    spawner = SimpleNamespace(
        user=SimpleNamespace(name=username), name="", user_options={"profile": "small"}
    )
    try:
        await hook.pre_spawn_hook(spawner)
    finally:
        await hook.close()
    return SimpleNamespace(notices=hook.notices.get(username))


def test_the_storage_story_runs_on_what_the_chart_wires(world: World) -> None:
    migrate = world.pods.run(world.workload("Job", "nexus-quota-migrate"))
    assert migrate.returncode == 0, migrate.stderr
    deployment = world.workload("Deployment", "nexus-quota")
    service, url = _serve(world, deployment, "serve")
    try:
        _story(world, url)
    finally:
        _stop(service)
    # Without the purge state mounted the file lists are a clear 503, never a 500.
    bare = deep_merge(deployment, {})
    (container,) = pod_spec(bare)["containers"]
    container["volumeMounts"] = [
        m for m in container["volumeMounts"] if m["mountPath"] != "/srv/nexus/purge-state"
    ]
    service, url = _serve(world, bare, "serve-without-state")
    try:
        with httpx.Client(headers={"Authorization": f"token {world.user_token('alice')}"}) as c:
            (manifest,) = c.get(url + "api/v1/me/purge-manifests").json()
            resp = c.get(url + f"api/v1/me/purge-manifests/{manifest['id']}/entries")
        assert resp.status_code == 503, resp.text
        assert resp.json()["code"] == "purge_state_unavailable"
        assert "NEXUS_STORAGE_STATE_DIR" in resp.json()["detail"]
    finally:
        _stop(service)


def _story(world: World, url: str) -> None:
    home = world.efs / "home" / "alice"
    files = {"thesis/ch1.tex": os.urandom(3_000_000), "notes.md": b"# notes\n"}
    for rel, data in files.items():
        path = home / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        old = time.time() - 300 * 86400
        os.utime(path, (old, old))
    for path in [home, *home.rglob("*")]:
        os.chown(path, EFS_UID, EFS_GID)
    alice = world.user_token("alice")
    api = httpx.Client(base_url=url, headers={"Authorization": f"token {alice}"}, timeout=60)
    assert api.get("api/v1/me/purge-manifests").json() == []  # known to the service now
    # Her last sign-in was 200 days ago: past Entry's 180-day archive age.
    long_ago = datetime.now(UTC) - timedelta(days=200)
    engine = create_engine(world.db_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE users SET last_login_at = :t, created_at = :t WHERE username = 'alice'"),
            {"t": long_ago},
        )
    engine.dispose()

    scan = world.run_job("scan")
    assert scan.returncode == 0, scan.stderr
    plan = world.run_job("purge-plan")
    assert plan.returncode == 0, plan.stderr
    # The pages list the files the purge will archive, read from the jobs' state on EFS.
    page = api.get("").text
    assert "thesis/ch1.tex" in page and "notes.md" in page, page
    notify = world.run_job("purge-notify")
    assert notify.returncode == 0, notify.stderr
    (mail,) = world.inbox.messages
    assert mail["X-Envelope-To"] == "alice@example.org"
    execute = world.run_job("purge-execute")
    assert execute.returncode == 0, execute.stdout + execute.stderr
    assert _tree(home) == {}
    for job in ("reconcile", "expire"):
        result = world.run_job(job)
        assert result.returncode == 0, f"{job}: {result.stdout}{result.stderr}"

    # She signs in: the decision starts the restore, the hook waits for it.
    signed_in = asyncio.run(_sign_in(url, world.token("quota-hub-hook"), "alice"))
    assert any("has been restored" in n for n in signed_in.notices), signed_in.notices
    assert _tree(home) == files
    for path in [home, *home.rglob("*")]:
        assert (path.stat().st_uid, path.stat().st_gid) == (EFS_UID, EFS_GID), path

    # The file list of what happened, in the API.
    (manifest,) = api.get("api/v1/me/purge-manifests").json()
    assert manifest["status"] == "restored"
    entries = api.get(f"api/v1/me/purge-manifests/{manifest['id']}/entries").json()
    archived = {e["path"]: e["state"] for e in entries if e["type"] == "file"}
    assert archived == {"thesis/ch1.tex": "done", "notes.md": "done"}
    api.close()


def test_every_quota_workload_is_run_by_the_story() -> None:
    # A workload added to the chart must join the story above.
    objects = render(ci_values("minimal-values.yaml"), own_only=False)
    quota = {
        f"{o['kind']}/{o['metadata']['name']}"
        for o in objects
        if o["kind"] in {"Deployment", "Job", "CronJob"}
        and "quota-service" in pod_spec(o)["containers"][0]["image"]
    }
    assert quota == {
        "Deployment/nexus-quota",
        "Job/nexus-quota-migrate",
        *(f"CronJob/nexus-quota-{n}" for n in
          ("scan", "purge-plan", "purge-notify", "purge-execute", "reconcile", "expire")),
    }  # fmt: skip
