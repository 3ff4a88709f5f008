"""Who may call what: every route of the OpenAPI document, with every kind of caller.

The routes come from the application's own OpenAPI document (`app.openapi()`); each one needs
a row in EXPECTED, and each row names the status for every caller, so a route added later
without deciding who may call it fails here. Calls go to the real service behind a real hub
(SQLite and PostgreSQL); tokens are the hub's, scoped as the hub scopes them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from quota_service.app import create_app
from quota_service.config import Settings
from tests.support.quota import QuotaStack
from tests.support.quota_tokens import hub_admin_token, quota_admin_token, scoped_token

pytestmark = pytest.mark.integration
PREFIX = "/services/quota/api/v1"
JUSTIFICATION = "Microlensing light curves from the Galactic Bulge survey; large servers."

ANON, USER, OTHER, LEAD, MEMBER = "anonymous", "user", "other-user", "lead", "member"
HUB_ADMIN, QUOTA_ADMIN, HOOK, JOBS = "hub-admin-flag-only", "quota-admin", "hook", "jobs"
OTHER_SERVICE, NARROW = "other-service", "narrow-admin-token"
CALLERS: tuple[str, ...] = (ANON, USER, OTHER, LEAD, MEMBER, HUB_ADMIN, QUOTA_ADMIN, HOOK, JOBS)
CALLERS += (OTHER_SERVICE, NARROW)
PEOPLE = (USER, OTHER, LEAD, MEMBER, HUB_ADMIN, QUOTA_ADMIN)
# Nobody without a token for this service gets further than these.
OUTSIDERS = {ANON: 401, OTHER_SERVICE: 403, NARROW: 403}


def row(allowed: dict[str, int], refused: int = 403) -> dict[str, int]:
    """A table row: `allowed` callers' statuses, `refused` for the rest, OUTSIDERS as always."""
    out = {caller: refused for caller in CALLERS}
    out.update(OUTSIDERS)
    out.update(allowed)
    return out


def hub(status: int) -> dict[str, int]:
    return row({HOOK: status, JOBS: status, QUOTA_ADMIN: status})


def people(status: int) -> dict[str, int]:
    return row(dict.fromkeys(PEOPLE, status))


def admin(status: int) -> dict[str, int]:
    return row({QUOTA_ADMIN: status})


def leads(status: int) -> dict[str, int]:
    return row({LEAD: status, QUOTA_ADMIN: status})


def public() -> dict[str, int]:
    return dict.fromkeys(CALLERS, 200)


EXPECTED: dict[str, dict[str, int]] = {
    "GET /hub/users/{username}/entitlements": hub(200),
    "GET /hub/users/{username}/servers": hub(200),
    "POST /hub/spawn-decisions": hub(200),
    "GET /hub/users/{username}/restore": hub(404),  # none started: found nothing, allowed
    "POST /hub/sessions/stop": hub(200),
    "GET /hub/sessions": hub(200),
    "GET /me": people(200),
    "GET /me/usage": people(200),
    "GET /me/requests": people(200),
    "POST /me/requests": people(201),
    "POST /me/requests/{request_id}/withdraw": row({USER: 200}),
    "GET /me/purge-manifests": people(200),
    "GET /me/purge-manifests/{manifest_id}/entries": people(404),  # none: allowed, not found
    "GET /admin/requests": admin(200),
    "POST /admin/requests/{request_id}/approve": admin(200),
    "POST /admin/requests/{request_id}/deny": admin(200),
    "POST /admin/allocations": admin(201),
    "POST /admin/allocations/{allocation_id}/extend": admin(200),
    "POST /admin/allocations/{allocation_id}/revoke": admin(200),
    "GET /admin/users": admin(200),
    "GET /admin/users/{username}": admin(200),
    "GET /admin/reports/usage": admin(200),
    "GET /admin/audit": admin(200),
    "POST /admin/consortia": admin(201),
    "POST /admin/consortia/{consortium_id}/remove": admin(200),
    "GET /consortia/{consortium_id}": leads(200),
    "POST /consortia/{consortium_id}/members": leads(201),
    "DELETE /consortia/{consortium_id}/members/{username}": leads(200),
    "PUT /consortia/{consortium_id}/members/{username}/share": leads(200),
    # Team collaboration servers: members and leads only, not admins (it holds the team's
    # work). The token hub cannot run a lab (no jupyter_server in its environment), so a
    # start that passes the checks ends in the hub's failure: 503.
    "GET /me/collab": people(200),
    "GET /consortia/{consortium_id}/collab": row({LEAD: 200, MEMBER: 200}),
    "POST /consortia/{consortium_id}/collab": row({LEAD: 503, MEMBER: 503}),
    "DELETE /consortia/{consortium_id}/collab": row({LEAD: 202, MEMBER: 202}),
    "GET /health/live": public(),
    "GET /health": public(),
}


def openapi_routes() -> dict[str, dict[str, Any]]:
    """METHOD + path (under the API prefix) -> operation, from the application itself."""
    app = create_app(Settings(database_url="sqlite://", fail_on_stale_schema=False))
    found = {}
    for path, ops in app.openapi()["paths"].items():
        for method, op in ops.items():
            found[f"{method.upper()} {path.removeprefix(PREFIX)}"] = op
    return found


def test_every_route_has_a_row_for_every_caller() -> None:
    routes = openapi_routes()
    missing = sorted(set(routes) - set(EXPECTED))
    stale = sorted(set(EXPECTED) - set(routes))
    assert not missing, f"routes without a row in EXPECTED (decide who may call them): {missing}"
    assert not stale, f"rows for routes that no longer exist: {stale}"
    for key, statuses in EXPECTED.items():
        assert set(statuses) == set(CALLERS), key


@dataclass
class World:
    """The callers (made once: hub tokens are slow to mint) and, per route (`next_route`),
    the request, allocation and consortia its paths name, made through the API as a quota
    admin. Each route's things are its own, so no route's calls see another's changes."""

    stack: QuotaStack
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    tokens: dict[str, str | None] = field(default_factory=dict)
    route: int = 0
    _request_id: int | None = None
    _allocation_id: int | None = None

    def next_route(self) -> None:
        self.route += 1
        self._request_id = self._allocation_id = None

    def name(self, who: str) -> str:
        return f"mx-{self.tag}-{who}"

    def token(self, caller: str) -> str | None:
        if caller not in self.tokens:
            self.tokens[caller] = self._make_token(caller)
        return self.tokens[caller]

    def _make_token(self, caller: str) -> str | None:
        stack = self.stack
        fixed = {
            ANON: None,
            HOOK: stack.hook_token,
            JOBS: stack.jobs_token,
            OTHER_SERVICE: str(getattr(stack, "other_service_token")),  # noqa: B009
        }
        if caller in fixed:
            return fixed[caller]
        if caller == QUOTA_ADMIN:
            return quota_admin_token(stack, self.name(caller))
        if caller == HUB_ADMIN:
            return hub_admin_token(stack, self.name(caller))
        if caller == NARROW:
            # The quota admin's own token, narrowed as a notebook server's would be.
            self.token(QUOTA_ADMIN)
            scopes = ["read:users:activity", "users:activity!user"]
            return scoped_token(stack, self.name(QUOTA_ADMIN), scopes, admin=True)
        return scoped_token(stack, self.name(caller))

    def admin_api(self) -> httpx.Client:
        return self.stack.api(self.token(QUOTA_ADMIN))

    @property
    def request_id(self) -> int:
        if self._request_id is None:
            # Consortium: POST /me/requests leaves each person a pending Research request.
            with self.stack.api(self.token(USER)) as api:
                body = {
                    "tier": "consortium",
                    "justification": JUSTIFICATION,
                    "proposal_ref": f"mx-{self.tag}-{self.route}",
                }
                resp = api.post("me/requests", json=body)
                assert resp.status_code == 201, resp.text
                self._request_id = int(resp.json()["id"])
        return self._request_id

    @property
    def allocation_id(self) -> int:
        if self._allocation_id is None:
            target = self.name(f"target-{self.route}")
            with self.admin_api() as api:
                body = {"username": target, "tier": "research", "reason": "matrix"}
                resp = api.post("admin/allocations", json=body)
                assert resp.status_code == 201, resp.text
                self._allocation_id = int(resp.json()["id"])
        return self._allocation_id

    def known_user(self) -> str:
        """USER's name, once the quota service has seen them (as a sign-in would)."""
        with self.stack.api(self.token(USER)) as api:
            assert api.get("me").status_code == 200
        return self.name(USER)

    def consortium(self) -> int:
        """A fresh consortium (each call): LEAD leads it, MEMBER is a member."""
        self.token(LEAD)
        self.token(MEMBER)
        with self.admin_api() as api:
            resp = api.post(
                "admin/consortia",
                json={
                    "name": f"mx-{uuid.uuid4().hex[:10]}",
                    "cpu_hours": 100,
                    "home_quota_soft_gib": 10,
                    "home_quota_hard_gib": 20,
                    "term_days": 30,
                    "leads": [self.name(LEAD)],
                },
            )
            assert resp.status_code == 201, resp.text
            cid = int(resp.json()["id"])
            member = {"username": self.name(MEMBER), "cpu_hours_share": 10}
            added = api.post(f"consortia/{cid}/members", json=member)
            assert added.status_code == 201, added.text
        return cid


Call = tuple[str, dict[str, Any] | None]
Builder = Callable[[World, str], Call]


def call_for(key: str) -> Builder:
    """The concrete path and body of a route for one caller, in a given world."""
    method, path = key.split(" ", 1)

    def build(world: World, caller: str) -> Call:
        body: dict[str, Any] | None = None
        values: dict[str, Any] = {"username": world.name(USER), "manifest_id": 999999}
        if key == "GET /admin/users/{username}":
            values["username"] = world.known_user()
        if "{request_id}" in path:
            values["request_id"] = world.request_id
        if "{allocation_id}" in path:
            values["allocation_id"] = world.allocation_id
        if "{consortium_id}" in path:
            values["consortium_id"] = world.consortium()
            values["username"] = world.name(MEMBER)
        bodies: dict[str, dict[str, Any]] = {
            "POST /hub/spawn-decisions": {"username": world.name(USER), "size": "small"},
            "POST /hub/sessions/stop": {"username": world.name(USER)},
            "POST /me/requests": {"tier": "research", "justification": JUSTIFICATION},
            "POST /admin/requests/{request_id}/approve": {
                "cpu_hours": 300,
                "home_quota_soft_gib": 1,
                "home_quota_hard_gib": 2,
                "note": "ok",
            },
            "POST /admin/requests/{request_id}/deny": {"note": "not this time"},
            "POST /admin/allocations": {
                "username": world.name(f"grantee-{world.route}-{caller}"),
                "tier": "research",
                "reason": "matrix",
            },
            "POST /admin/allocations/{allocation_id}/extend": {"days": 30, "reason": "matrix"},
            "POST /admin/allocations/{allocation_id}/revoke": {"reason": "matrix"},
            "POST /admin/consortia": {
                "name": f"mx-{uuid.uuid4().hex[:10]}",
                "cpu_hours": 10,
                "home_quota_soft_gib": 1,
                "home_quota_hard_gib": 2,
                "term_days": 30,
                "leads": [world.name(LEAD)],
            },
            "POST /consortia/{consortium_id}/members": {
                "username": world.name(f"new-{caller}"),
                "cpu_hours_share": 1,
            },
            "PUT /consortia/{consortium_id}/members/{username}/share": {"cpu_hours_share": 5},
            "POST /admin/consortia/{consortium_id}/remove": {"reason": "matrix"},
        }
        if method in ("POST", "PUT"):
            body = bodies.get(key, {})
        return path.format(**values).lstrip("/"), body

    return build


def test_every_caller_gets_the_expected_status(stack: QuotaStack) -> None:
    got: dict[str, dict[str, int]] = {}
    world = World(stack)
    for key in sorted(EXPECTED):
        method = key.split(" ", 1)[0]
        world.next_route()
        build = call_for(key)
        for caller in CALLERS:
            path, body = build(world, caller)
            with stack.api(world.token(caller)) as api:
                resp = api.request(method, path, json=body)
            got.setdefault(key, {})[caller] = resp.status_code
            if resp.status_code in (401, 403):
                assert resp.json()["detail"], (key, caller)
    wrong = {
        f"{key} as {caller}": f"expected {EXPECTED[key][caller]}, got {status}"
        for key, statuses in got.items()
        for caller, status in statuses.items()
        if status != EXPECTED[key][caller]
    }
    assert not wrong, wrong


def test_refusals_name_the_missing_scope(stack: QuotaStack) -> None:
    world = World(stack)
    with stack.api(world.token(HUB_ADMIN)) as api:
        refused = api.get("admin/requests")
    assert refused.status_code == 403
    assert "custom:nexus-quota:admin" in refused.json()["detail"]
    for caller in (NARROW, OTHER_SERVICE):
        with stack.api(world.token(caller)) as api:
            refused = api.get("me")
        assert refused.status_code == 403
        assert "access:services!service=quota" in refused.json()["detail"]


def test_a_lead_sees_only_their_own_consortium(stack: QuotaStack) -> None:
    """Leads read their consortium's storage figures (per member, by file owner); another
    consortium's lead, its members and everyone else get 403, and a removal needs the admin
    scope (a lead's token is refused)."""
    world = World(stack)
    mine = world.consortium()
    theirs = world.consortium()
    with world.admin_api() as api:
        other_lead = world.name("other-lead")
        world.tokens["other-lead"] = scoped_token(stack, other_lead)
        moved = api.post(
            f"consortia/{theirs}/members",
            json={"username": other_lead, "role": "lead", "cpu_hours_share": 0},
        )
        assert moved.status_code == 201, moved.text
    with stack.api(world.token(LEAD)) as api:
        own = api.get(f"consortia/{mine}")
        assert own.status_code == 200
        storage = own.json()["storage"]
        assert {m["username"] for m in storage["members"]} == {world.name(LEAD), world.name(MEMBER)}
        assert storage["total_bytes"] == storage["homes_bytes"] + storage["team_bytes"]
        assert storage["hard_quota_bytes"] == 20 * 1024**3
    with stack.api(world.tokens["other-lead"]) as api:
        assert api.get(f"consortia/{theirs}").status_code == 200
        refused = api.get(f"consortia/{mine}")
        assert refused.status_code == 403 and "storage" not in refused.json()
    for caller in (MEMBER, OTHER):
        with stack.api(world.token(caller)) as api:
            assert api.get(f"consortia/{mine}").status_code == 403
    with stack.api(world.token(LEAD)) as api:
        assert api.post(f"admin/consortia/{mine}/remove", json={"reason": "x"}).status_code == 403
    with world.admin_api() as api:
        removed = api.post(f"admin/consortia/{mine}/remove", json={"reason": "ended"})
        assert removed.status_code == 200 and removed.json()["removed_at"]
        again = api.post(f"admin/consortia/{mine}/remove", json={"reason": "ended"})
        assert again.status_code == 409 and again.json()["code"] == "already_removed"
        empty = api.post(f"admin/consortia/{mine}/remove", json={"reason": ""})
        assert empty.status_code == 422
        missing = api.post("admin/consortia/2147483647/remove", json={"reason": "x"})
        assert missing.status_code == 404
