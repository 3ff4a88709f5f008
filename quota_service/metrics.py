"""Prometheus metrics of the quota service (served at <prefix>metrics)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from .services.reports import StorageSummary

log = logging.getLogger("quota_service.metrics")

SPAWN_DECISIONS = Counter(
    "nexus_quota_spawn_decisions_total", "Spawn decisions by result", ["result"]
)
REQUEST_LATENCY = Histogram(
    "nexus_quota_request_seconds",
    "API request latency",
    ["route", "method"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
ERRORS = Counter("nexus_quota_errors_total", "Error responses by code", ["code"])


class StorageCollector(Collector):
    """Storage gauges read from the database at scrape time: the scan job is a CronJob that
    nothing can scrape, but what it measured is in the database.

    Figures are cached for `ttl` seconds so that scrapes (every 15-60 s, from each replica)
    cost one read per period. Not part of the multiprocess files: under `serve --workers N`
    every worker reads the same database, so any worker's answer is the answer."""

    def __init__(
        self,
        read: Callable[[], StorageSummary],
        *,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, StorageSummary | None] | None = None

    def describe(self) -> Iterable[Metric]:
        return []  # registering must not read the database

    def summary(self) -> StorageSummary | None:
        with self._lock:
            now = self._clock()
            if self._cached is None or now - self._cached[0] >= self._ttl:
                try:
                    self._cached = (now, self._read())
                except SQLAlchemyError as exc:
                    log.warning("storage metrics: cannot read the database: %s", exc)
                    self._cached = (now, None)
            return self._cached[1]

    def collect(self) -> Iterable[Metric]:
        summary = self.summary()
        up = GaugeMetricFamily(
            "nexus_storage_metrics_up", "1 when the storage figures could be read"
        )
        up.add_metric([], 0 if summary is None else 1)
        yield up
        if summary is None:
            return
        used = GaugeMetricFamily(
            "nexus_storage_used_bytes",
            "Allocated bytes at the last scan, by the person's tier",
            labels=["tier", "area"],
        )
        files = GaugeMetricFamily(
            "nexus_storage_files", "Files at the last scan", labels=["tier", "area"]
        )
        users = GaugeMetricFamily(
            "nexus_storage_users", "People with a storage snapshot", labels=["tier"]
        )
        over = GaugeMetricFamily(
            "nexus_storage_users_over_quota",
            "People over their home quota at the last scan",
            labels=["tier", "level"],
        )
        for t in summary.by_tier:
            used.add_metric([t.tier, "home"], t.home_bytes)
            used.add_metric([t.tier, "scratch"], t.scratch_bytes)
            files.add_metric([t.tier, "home"], t.home_files)
            files.add_metric([t.tier, "scratch"], t.scratch_files)
            users.add_metric([t.tier], t.users)
            over.add_metric([t.tier, "soft"], t.over_soft)
            over.add_metric([t.tier, "hard"], t.over_hard)
        yield from (used, files, users, over)
        if summary.last_scan_at is not None:
            yield GaugeMetricFamily(
                "nexus_storage_scan_timestamp_seconds",
                "When the newest snapshot was measured",
                value=summary.last_scan_at.timestamp(),
            )
        if summary.last_scan_errors is not None:
            yield GaugeMetricFamily(
                "nexus_storage_scan_errors",
                "Directories the last scan could not open",
                value=summary.last_scan_errors,
            )
        manifests = GaugeMetricFamily(
            "nexus_storage_purge_manifests",
            "Purge manifests by status (planned and notified are pending)",
            labels=["status", "area"],
        )
        manifest_bytes = GaugeMetricFamily(
            "nexus_storage_purge_manifest_bytes",
            "Bytes the purge manifests cover, by status",
            labels=["status", "area"],
        )
        for (status, area), (count, size) in sorted(summary.manifests.items()):
            manifests.add_metric([status, area], count)
            manifest_bytes.add_metric([status, area], size)
        yield from (manifests, manifest_bytes)
