"""Create a consortium pool through the admin API, as the tests' admins do."""

from __future__ import annotations

import httpx


def create_consortium(
    admin: httpx.Client,
    name: str,
    leads: list[str],
    *,
    cpu_hours: float = 100,
    home_quota_gib: tuple[float, float] = (10, 20),
    term_days: int = 30,
) -> int:
    """POST admin/consortia (by default a 10/20 GiB soft/hard home quota and a 30-day term);
    returns its id."""
    soft, hard = home_quota_gib
    created = admin.post(
        "admin/consortia",
        json={
            "name": name,
            "cpu_hours": cpu_hours,
            "home_quota_soft_gib": soft,
            "home_quota_hard_gib": hard,
            "term_days": term_days,
            "leads": leads,
        },
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])
