"""Create a consortium pool through the admin API, as the tests' admins do."""

from __future__ import annotations

import httpx


def create_consortium(
    admin: httpx.Client, name: str, leads: list[str], *, cpu_hours: float = 100
) -> int:
    """POST admin/consortia with a 10/20 GiB home quota and a 30-day term; returns its id."""
    created = admin.post(
        "admin/consortia",
        json={
            "name": name,
            "cpu_hours": cpu_hours,
            "home_quota_soft_gib": 10,
            "home_quota_hard_gib": 20,
            "term_days": 30,
            "leads": leads,
        },
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])
