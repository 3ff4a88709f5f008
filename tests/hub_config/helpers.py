"""Test helpers: hub-side sizes and decisions built by the quota service's own builders and
response models from the real tier policy, then read by the hub's client as it reads them off
the wire (`model_dump(mode="json")`), never retyped here (tests/hub_config/test_contract.py
checks the same path against the service's real answers)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from hub_config import quota_client
from quota_service.models import v1
from quota_service.policy import load_policy
from quota_service.services.views import size_view

POLICY = load_policy()
GIB = 1024**3
# Fixed, so the fixtures do not depend on the day the tests run.
STARTS_AT = datetime(2026, 1, 1, tzinfo=UTC)

Client = TypeVar("Client", bound=BaseModel)


def on_the_wire(answer: BaseModel, client_model: type[Client], **extra: Any) -> Client:
    """What the hub's client makes of the service's `answer` (plus `extra` fields)."""
    body = answer.model_dump(mode="json")
    body.update(extra)
    return client_model.model_validate(body)


def service_size(name: str, allocation_ids: list[int] | None = None) -> v1.SizeView:
    return size_view(name, POLICY.sizes[name], allocation_ids)


def size(name: str, allocation_ids: list[int] | None = None) -> quota_client.Size:
    return on_the_wire(service_size(name, allocation_ids), quota_client.Size)


def tier_sizes() -> list[tuple[str, str]]:
    """Every (tier, size) pair the policy allows."""
    return [(t.value, s) for t, tier in POLICY.tiers.items() for s in tier.sizes]


def home_quota(tier: str) -> tuple[int, int] | None:
    """The tier's own home quota in bytes, as the service sends it for a personal allocation."""
    q = POLICY.tier(tier).home_quota_gib
    return None if q is None else (int(q.soft * GIB), int(q.hard * GIB))


def allowed(
    tier: str, size_name: str, *, cleanup: bool = False, **extra: Any
) -> quota_client.SpawnAllowed:
    t = POLICY.tier(tier)
    quota = home_quota(tier)
    answer = v1.SpawnAllowed(
        session_id=41,
        cleanup_mode=cleanup,
        notice="clean up please" if cleanup else None,
        tier=tier,
        allocation_id=7,
        allocation_label=f"{t.display_name} (alice)",
        size=service_size(size_name, [7]),
        cpu_hours_left=123.5,
        idle_cull_hours=t.idle_cull_hours,
        max_session_hours=t.max_session_hours,
        home_quota_soft_bytes=quota[0] if quota else None,
        home_quota_hard_bytes=quota[1] if quota else None,
        scratch_retention_days=t.scratch_retention_days,
        uid=200041,
    )
    return on_the_wire(answer, quota_client.SpawnAllowed, **extra)


def allocation_view(a: dict[str, Any]) -> v1.AllocationView:
    """An allocation as the service shows it; `a` holds id, tier, label and cpu_hours_left,
    and may override any other field."""
    t = POLICY.tier(a["tier"])
    left = float(a["cpu_hours_left"])
    budget = t.cpu_hours_per_term if t.cpu_hours_per_term is not None else left
    quota = home_quota(a["tier"])
    fields: dict[str, Any] = {
        "kind": "personal",
        "status": "active",
        "cpu_hours_budget": budget,
        "cpu_hours_used": budget - left,
        "starts_at": STARTS_AT,
        "ends_at": None,
        "resets_at": None,
        "max_concurrent_servers": t.max_concurrent_servers,
        "running_servers": 0,
        "sizes": list(t.sizes),
        "home_quota_soft_bytes": quota[0] if quota else None,
        "home_quota_hard_bytes": quota[1] if quota else None,
        **a,
    }
    return v1.AllocationView(**fields)


def entitlements(
    allocations: list[dict[str, Any]], *, cleanup: bool = False, tier: str = "entry"
) -> quota_client.Entitlements:
    by_size: dict[str, list[int]] = {}
    for a in allocations:
        for s in POLICY.tier(a["tier"]).sizes:
            by_size.setdefault(s, []).append(a["id"])
    answer = v1.Entitlements(
        username="alice",
        tier=tier,
        cleanup_mode=cleanup,
        notices=[],
        allocations=[allocation_view(a) for a in allocations],
        sizes=[service_size(n, ids) for n in POLICY.sizes if (ids := by_size.get(n))],
        storage=v1.StorageView(),
        upgrade_url=POLICY.upgrade_url,
    )
    return on_the_wire(answer, quota_client.Entitlements)
