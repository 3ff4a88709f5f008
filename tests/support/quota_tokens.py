"""Hub tokens of every kind the quota service meets, made through the real hub's REST API.

quota_admin_token(stack, "root")        # in the hub's admin group: custom:nexus-quota:admin
hub_admin_token(stack, "flag-only")     # the hub's admin flag, not the quota-admin role
scoped_token(stack, "alice", ["users:activity!user"])   # a token narrowed to some scopes
other_service_config("other", token)    # hub config for a service with nothing for quota
"""

from __future__ import annotations

from .quota import QuotaStack

ADMIN_GROUP = "nexus-admins"


def ensure_user(stack: QuotaStack, name: str, *, admin: bool = False) -> None:
    with stack.hub.api(stack.admin_service_token) as hub:
        resp = hub.post(f"users/{name}", json={"admin": admin})
        if resp.status_code == 409:
            hub.patch(f"users/{name}", json={"admin": admin}).raise_for_status()
        else:
            resp.raise_for_status()


def scoped_token(
    stack: QuotaStack, name: str, scopes: list[str] | None = None, *, admin: bool = False
) -> str:
    """A new token of `name` (created, with the admin flag as given): all of the person's
    scopes when `scopes` is None, else only those."""
    ensure_user(stack, name, admin=admin)
    body: dict[str, object] = {"note": "tests"}
    if scopes is not None:
        body["scopes"] = scopes
    with stack.hub.api(stack.admin_service_token) as hub:
        resp = hub.post(f"users/{name}/tokens", json=body)
        resp.raise_for_status()
        return str(resp.json()["token"])


def hub_admin_token(stack: QuotaStack, name: str) -> str:
    """A hub admin (the flag) outside the admin group: no quota-admin role, no admin scope."""
    return scoped_token(stack, name, admin=True)


def quota_admin_token(stack: QuotaStack, name: str) -> str:
    """A hub admin in the admin group, as the authenticator's admin_groups make them: the
    quota-admin role gives their tokens custom:nexus-quota:admin."""
    ensure_user(stack, name, admin=True)
    with stack.hub.api(stack.admin_service_token) as hub:
        hub.post(f"groups/{ADMIN_GROUP}/users", json={"users": [name]}).raise_for_status()
    return scoped_token(stack, name, admin=True)


def other_service_config(name: str, token: str) -> str:
    """Extra hub config: a service whose role reads users (nothing of the quota service's)."""
    return f"""
c.JupyterHub.services.append({{"name": {name!r}, "api_token": {token!r}}})
c.JupyterHub.load_roles.append(
    {{"name": {name + "-role"!r}, "scopes": ["read:users"], "services": [{name!r}]}}
)
"""
