"""Storage gauges on the quota service's /metrics, read from what the scan job stored.

The scan runs as the CronJob runs it (`nexus-quota scan`, a real process over real files);
the figures it measured (its optional textfile output, per person) must come back from the
running service's /metrics, added up by tier."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError

from quota_service.config import Settings
from quota_service.factory import Factory
from quota_service.jobs.purge import PurgeService
from quota_service.jobs.purge_common import StorageConfig
from quota_service.metrics import StorageCollector
from quota_service.policy.loader import default_policy_text
from quota_service.services.reports import StorageSummary, TierStorage
from tests.chart.chartlib import by_kind, ci_values, render
from tests.storage.trees import layout, put
from tests.support.clock import FakeClock
from tests.support.processes import TEST_OUTPUT, free_port
from tests.support.quota import PREFIX, start_quota_service

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _cli(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "quota_service.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _get(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.mark.integration
@pytest.mark.slow
def test_metrics_report_what_the_scan_measured(db_url: str, backend: str) -> None:
    workdir = TEST_OUTPUT / "storage-metrics" / backend
    shutil.rmtree(workdir, ignore_errors=True)
    lay = layout(workdir / "efs", ["carol", "dave", "eve"])
    put(lay.home("carol") / "notes.txt", b"n" * 5000)
    put(lay.scr("carol") / "a.dat", b"a" * 70_000)
    put(lay.scr("carol") / "b.dat", b"b" * 10)
    put(lay.home("dave") / "big.fits", b"d" * 200_000)
    put(lay.home("eve") / "x" / "y.txt", b"e" * 300_000)
    # Entry homes: soft ~107 kB, hard ~215 kB, so eve (300 kB) is over both.
    policy = yaml.safe_load(default_policy_text())
    policy["tiers"]["entry"]["home_quota_gib"] = {"soft": 0.0001, "hard": 0.0002}
    (workdir / "policy.yaml").write_text(yaml.safe_dump(policy))
    env = {
        "NEXUS_QUOTA_DATABASE_URL": db_url,
        "NEXUS_QUOTA_STORAGE_ROOT": str(lay.homes),
        "NEXUS_QUOTA_SCRATCH_ROOT": str(lay.scratch),
        "NEXUS_STORAGE_STATE_DIR": str(workdir / "state"),
        "NEXUS_QUOTA_POLICY_PATH": str(workdir / "policy.yaml"),
    }
    for user in ("carol", "eve"):
        _cli(env, "grant", user, "entry", "--reason", "test")
    # dave: Research, with a smaller home quota than Entry's; the larger one applies, and his
    # 200 kB are over its soft limit only.
    quota = ("--home-soft-gib", "0.00001", "--home-hard-gib", "0.00002")
    _cli(env, "grant", "dave", "research", *quota, "--reason", "test")
    textfile = workdir / "scan.prom"
    report = json.loads(
        _cli(env, "scan", "--json", "--no-progress", "--metrics-file", str(textfile))
    )
    assert report["users"] == 3 and report["errors"] == []
    # A plan a month on (an injected clock: the files' times are real): carol's scratch
    # files are past Entry's retention, so at least she gets a pending manifest.
    settings = Settings(
        database_url=db_url,
        storage_root=lay.homes,
        scratch_root=lay.scratch,
        policy_path=workdir / "policy.yaml",
    )
    later = Factory(settings, clock=FakeClock(datetime.now(UTC) + timedelta(days=30)))
    try:
        config = StorageConfig.from_settings(settings, workdir / "state")
        plan = PurgeService(later, config).plan().as_dict()
    finally:
        later.dispose()
    pending = [m for m in plan["manifests"] if m["entries"]]
    assert ("carol", "scratch") in [(m["user"], m["area"]) for m in pending]
    scanned = _samples(textfile.read_text())

    def measured(name: str, users: tuple[str, ...], area: str) -> float:
        return sum(_get(scanned, name, user=u, area=area) for u in users)

    port = free_port()
    proc = start_quota_service(
        workdir,
        db_url,
        port=port,
        hub_api_url=f"http://127.0.0.1:{free_port()}/hub/api",
        token="unused",
    )
    try:
        text = httpx.get(f"http://127.0.0.1:{port}{PREFIX}metrics", timeout=30).text
    finally:
        proc.stop()
    served = _samples(text)

    assert _get(served, "nexus_storage_metrics_up") == 1
    for tier, users in {"entry": ("carol", "eve"), "research": ("dave",)}.items():
        assert _get(served, "nexus_storage_users", tier=tier) == len(users)
        for area in ("home", "scratch"):
            for name in ("nexus_storage_used_bytes", "nexus_storage_files"):
                assert _get(served, name, tier=tier, area=area) == measured(name, users, area)
    assert measured("nexus_storage_files", ("carol",), "scratch") == 2
    assert _get(served, "nexus_storage_used_bytes", tier="research", area="home") >= 200_000
    over = {
        (tier, level): _get(served, "nexus_storage_users_over_quota", tier=tier, level=level)
        for tier in ("entry", "research")
        for level in ("soft", "hard")
    }
    assert over == {
        ("entry", "soft"): 1,
        ("entry", "hard"): 1,
        ("research", "soft"): 1,
        ("research", "hard"): 0,
    }
    assert _get(served, "nexus_storage_scan_timestamp_seconds") == pytest.approx(
        _get(scanned, "nexus_storage_scan_timestamp_seconds"), abs=1e-3
    )
    assert _get(served, "nexus_storage_scan_errors") == 0
    manifests = {
        (name, dict(labels)["status"], dict(labels)["area"]): value
        for (name, labels), value in served.items()
        if name.startswith("nexus_storage_purge_manifest")
    }
    expected: dict[tuple[str, str, str], float] = {}
    for m in pending:
        count = ("nexus_storage_purge_manifests", "planned", m["area"])
        size = ("nexus_storage_purge_manifest_bytes", "planned", m["area"])
        expected[count] = expected.get(count, 0) + 1
        expected[size] = expected.get(size, 0) + m["bytes"]
    assert manifests == expected


def _summary(home_bytes: int) -> StorageSummary:
    return StorageSummary(by_tier=[TierStorage("entry", 1, home_bytes, 1, 0, 0, 0, 0)])


def test_scrapes_within_the_cache_period_read_the_database_once() -> None:
    now = [0.0]
    reads: list[int] = []

    def read() -> StorageSummary:
        reads.append(1)
        return _summary(100 * len(reads))

    collector = StorageCollector(read, ttl=60.0, clock=lambda: now[0])
    assert collector.describe() == []  # registering reads nothing
    first = {m.name: m for m in collector.collect()}
    now[0] = 59.0
    again = {m.name: m for m in collector.collect()}
    assert len(reads) == 1
    assert first["nexus_storage_used_bytes"].samples == again["nexus_storage_used_bytes"].samples
    now[0] = 60.0
    fresh = {m.name: m for m in collector.collect()}
    assert len(reads) == 2
    assert fresh["nexus_storage_used_bytes"].samples[0].value == 200


def test_a_database_error_reads_as_down_not_as_a_failed_scrape() -> None:
    def read() -> StorageSummary:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    metrics = {m.name: m for m in StorageCollector(read).collect()}
    assert list(metrics) == ["nexus_storage_metrics_up"]
    assert metrics["nexus_storage_metrics_up"].samples[0].value == 0


@pytest.mark.chart
def test_the_scan_cronjob_writes_no_textfile() -> None:
    """Nothing could scrape a CronJob's textfile; the chart must not depend on one."""
    cronjobs = by_kind(render(ci_values("minimal-values.yaml")), "CronJob")
    scan = cronjobs["nexus-quota-scan"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = scan["containers"]
    assert container["command"] == ["nexus-quota", "scan"]
    assert not any("metrics" in str(arg) for arg in container.get("args", []))
    assert not any("textfile" in str(v.get("name", "")) for v in scan.get("volumes", []))
