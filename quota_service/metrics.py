"""Prometheus metrics of the quota service (served at <prefix>metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
