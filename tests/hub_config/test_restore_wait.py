"""A restore at sign-in runs outside the spawn decision: the hub's hook waits for it.

A real quota service (behind a real hub for tokens) with homes, a purge state directory and
moto's S3 over HTTP; a home of real size archived by the purge pipeline. The test holds the
purge lock, as a running purge job would, so the restore cannot finish until it lets go: the
decision still answers at once (within the hook's 5 s timeout), the spawn shows "Restoring your
home…" as its progress message, and no 503 is ever reported.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hub_config.hook import QuotaSpawnHook
from hub_config.restore_wait import RESTORING
from quota_service.config import ArchiveSettings, Settings
from quota_service.factory import Factory
from quota_service.jobs.purge import PurgeService
from quota_service.jobs.purge_common import StorageConfig
from tests.support.clock import FakeClock
from tests.support.databases import DatabaseFactory
from tests.support.processes import TEST_OUTPUT
from tests.support.quota import QuotaStack
from tests.support.s3 import S3Endpoint

pytestmark = pytest.mark.integration


@dataclass
class Site:
    stack: QuotaStack
    homes: Path
    state: Path
    bucket: str
    s3: S3Endpoint
    files: dict[str, bytes]

    def hook(self) -> QuotaSpawnHook:
        return QuotaSpawnHook(
            quota_url=self.stack.url + "/services/quota/",
            api_token=self.stack.hook_token,
            restore_poll_seconds=0.1,
        )


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def site(
    databases: DatabaseFactory, s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Site]:
    workdir = TEST_OUTPUT / "hub_config" / "restore_wait" / secrets.token_hex(4)
    homes, state = workdir / "homes", workdir / "purge-state"
    bucket = f"archive-{secrets.token_hex(4)}"
    s3_server.client().create_bucket(Bucket=bucket)
    db_url = databases.new("postgresql")
    # alice's home, of real size, unused for 300 days; her last sign-in 200 days ago.
    files = {f"data/part{i}.bin": os.urandom(4_000_000) for i in range(6)}
    files["notes.md"] = b"# notes\n"
    for rel, data in files.items():
        path = homes / "alice" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    stack = QuotaStack.start(  # alice signs up through it: Entry starts on its clock
        workdir,
        db_url,
        env={
            "NEXUS_QUOTA_STORAGE_ROOT": str(homes),
            "NEXUS_STORAGE_STATE_DIR": str(state),
            "NEXUS_QUOTA_ARCHIVE__BUCKET": bucket,
            "NEXUS_QUOTA_ARCHIVE__ENDPOINT_URL": s3_server.url,
            **s3_server.env(),
        },
    )
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0) + timedelta(days=1))
    settings = Settings(
        database_url=db_url,
        storage_root=homes,
        archive=ArchiveSettings(bucket=bucket, endpoint_url=s3_server.url),
    )
    factory = Factory(settings, clock=clock)
    try:
        with stack.api(stack.user_token("alice")) as api:
            assert api.get("me/purge-manifests").json() == []
        with factory.unit_of_work() as svc:
            alice = svc.users.get("alice")
            alice.last_login_at = clock() - timedelta(days=200)
            alice.created_at = clock() - timedelta(days=400)
        for path in (homes / "alice").rglob("*"):
            old = (clock() - timedelta(days=300)).timestamp()
            os.utime(path, (old, old))
        purge = PurgeService(factory, StorageConfig.from_settings(settings, state))
        assert [m["reason"] for m in purge.plan().manifests] == ["home-inactive"]
        purge.notify()
        clock.advance(days=8)
        assert not purge.execute(yes=True).partial
    except BaseException:
        stack.stop()
        raise
    finally:
        factory.dispose()
    assert _tree(homes / "alice") == {}
    try:
        yield Site(stack, homes, state, bucket, s3_server, files)
    finally:
        stack.stop()


def _spawner(username: str) -> SimpleNamespace:
    async def progress() -> AsyncIterator[dict[str, Any]]:
        yield {"progress": 50, "message": "pod scheduled"}  # the spawner's own events

    return SimpleNamespace(
        user=SimpleNamespace(name=username),
        name="",
        user_options={"profile": "small"},
        progress=progress,
    )


async def test_a_slow_restore_is_waited_for_outside_the_decision(site: Site) -> None:
    hook = site.hook()
    assert hook.timeout == 5.0  # every request of the hook, the decision included
    spawner = _spawner("alice")
    fd = os.open(site.state / "purge.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a purge job is running: the restore must wait for it
    try:
        spawn = asyncio.create_task(hook.pre_spawn_hook(spawner))
        await asyncio.sleep(0)  # the spawn has begun when its page opens the stream (one step)
        # The spawn page's progress stream, as JupyterHub reads it while the hook runs.
        events = spawner.progress()
        first = await anext(events)
        assert first == {"progress": 5, "message": RESTORING}
        # The decision has answered (the hook only learns of a restore from it); the restore
        # itself cannot have run: the lock is still held.
        assert not spawn.done()
        assert hook.notices.get("alice") == [RESTORING]
        assert _tree(site.homes / "alice") == {}
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    await spawn  # no SpawnRefused, no 503
    assert [e["message"] async for e in events] == ["pod scheduled"]
    (notice,) = hook.notices.get("alice")
    assert "has been restored" in notice
    assert _tree(site.homes / "alice") == site.files
    with site.stack.api(site.stack.hook_token) as api:
        status = api.get("hub/users/alice/restore").json()
    assert status["state"] == "restored" and status["files"] == len(site.files)
    # Signing in again finds nothing more to restore.
    again = _spawner("alice")
    await hook.pre_spawn_hook(again)
    assert [e["message"] async for e in again.progress()] == ["pod scheduled"]
    await hook.close()


async def test_a_failed_restore_lets_the_server_start_with_a_clear_notice(site: Site) -> None:
    client = site.s3.client()
    listed = client.list_objects_v2(Bucket=site.bucket)["Contents"]
    for obj in listed:
        if obj["Key"].endswith(".bin"):
            client.delete_object(Bucket=site.bucket, Key=obj["Key"])
    hook = site.hook()
    await hook.pre_spawn_hook(_spawner("alice"))
    (notice,) = hook.notices.get("alice")
    assert "could not be restored" in notice
    assert "tried again at your next sign-in" in notice
    assert _tree(site.homes / "alice") == {"notes.md": b"# notes\n"}
    await hook.close()


def test_restore_status_of_someone_never_restored_is_a_404(site: Site) -> None:
    with site.stack.api(site.stack.hook_token) as api:
        resp = api.get("hub/users/bob/restore")
    assert resp.status_code == 404
    assert "no restore" in resp.json()["detail"]
