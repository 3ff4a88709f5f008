"""Test helpers: hub-side sizes and decisions derived from the real tier policy."""

from __future__ import annotations

from typing import Any

from hub_config.quota_client import Entitlements, Size, SpawnAllowed
from quota_service.policy import load_policy

POLICY = load_policy()


def size(name: str, allocation_ids: list[int] | None = None) -> Size:
    s = POLICY.sizes[name]
    return Size(
        name=name,
        display_name=s.display_name,
        description=s.description,
        cpu_limit=s.cpu_limit,
        cpu_guarantee=s.cpu_guarantee,
        mem_limit_bytes=s.mem_limit_bytes,
        mem_guarantee_bytes=s.mem_guarantee_bytes,
        cpu_hours_per_hour=s.cpu_hours_per_hour,
        node_selector=dict(s.node_selector),
        tolerations=[t.model_dump() for t in s.tolerations],
        allocation_ids=allocation_ids or [],
    )


def tier_sizes() -> list[tuple[str, str]]:
    """Every (tier, size) pair the policy allows."""
    return [(t.value, s) for t, tier in POLICY.tiers.items() for s in tier.sizes]


def allowed(tier: str, size_name: str, *, cleanup: bool = False, **extra: Any) -> SpawnAllowed:
    t = POLICY.tier(tier)
    body: dict[str, Any] = {
        "allowed": True,
        "session_id": 41,
        "cleanup_mode": cleanup,
        "notice": "clean up please" if cleanup else None,
        "tier": tier,
        "allocation_id": 7,
        "allocation_label": f"{t.display_name} (alice)",
        "size": size(size_name, [7]).model_dump(),
        "cpu_hours_left": 123.5,
        "idle_cull_hours": t.idle_cull_hours,
        "max_session_hours": t.max_session_hours,
        "home_quota": {"soft_bytes": 10 * 1024**3, "hard_bytes": 15 * 1024**3},
        "scratch_retention_days": t.scratch_retention_days,
    }
    body.update(extra)
    return SpawnAllowed.model_validate(body)


def entitlements(
    allocations: list[dict[str, Any]], *, cleanup: bool = False, tier: str = "entry"
) -> Entitlements:
    by_size: dict[str, list[int]] = {}
    for a in allocations:
        for s in POLICY.tier(a["tier"]).sizes:
            by_size.setdefault(s, []).append(a["id"])
    return Entitlements.model_validate(
        {
            "username": "alice",
            "tier": tier,
            "cleanup_mode": cleanup,
            "allocations": [
                {"sizes": POLICY.tier(a["tier"]).sizes, "status": "active", **a}
                for a in allocations
            ],
            "sizes": [size(n, ids).model_dump() for n in POLICY.sizes if (ids := by_size.get(n))],
        }
    )
