"""Team collaboration servers: the hub user a team's shared JupyterLab runs as, and the
lab option that turns real-time collaboration on for it only.

A team's collaboration server is the default server of the hub user `team~<team_dir>`
(`team_dir`: the consortium's stored folder name, hub_config/teamdirs.py). No person can
have such a name: sign-in refuses usernames that start with `TEAM_PREFIX` (identity.py), so
the name is reserved for the quota service, which creates the user and starts, stops and
shares its server (quota_service/services/collab.py).

jupyter-collaboration is installed in every lab (kernels/lab-server's lock), but a personal
server runs with real-time collaboration switched off (`YDocExtension.disable_rtc`): it
would only add a document store and a second save path to a one-person lab. The hook
switches it on for team servers alone.

Standard library only: the hub image and the quota-service image both import this module.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .teamdirs import team_dir

# "~" is kept as it is in hub URLs (/user/team~demo/); sign-in refuses names with this prefix.
TEAM_PREFIX = "team~"
RTC_OFF = "--YDocExtension.disable_rtc=True"
RTC_ON = "--YDocExtension.disable_rtc=False"


def team_username(team_dir: str) -> str:
    """The hub user of the team whose folder is `team_dir`."""
    return TEAM_PREFIX + team_dir


def is_team_username(username: str) -> bool:
    return username.startswith(TEAM_PREFIX)


def team_dir_of(username: str) -> str | None:
    """The team folder name of a team user, or None for a person."""
    return username[len(TEAM_PREFIX) :] if is_team_username(username) else None


def reserved_name_refusal(username: str) -> str | None:
    """Why a person cannot sign in as `username`, or None if the name is not reserved."""
    if is_team_username(username.lower()):
        return (
            f"Usernames starting with {TEAM_PREFIX!r} are reserved for team collaboration "
            "servers. Change your MyST username, or ask an administrator."
        )
    return None


def rtc_args(username: str) -> list[str]:
    """The lab argument for `username`'s servers: collaboration on for a team user only."""
    return [RTC_ON if is_team_username(username) else RTC_OFF]


def apply_rtc(spawner: Any) -> None:
    """Add the collaboration switch to the spawner's arguments (replacing an earlier one)."""
    args = [a for a in (getattr(spawner, "args", None) or []) if a not in (RTC_ON, RTC_OFF)]
    spawner.args = [*args, *rtc_args(spawner.user.name)]


def team_servers_of(user: Any, consortia: tuple[tuple[int, str], ...] = ()) -> list[dict[str, Any]]:
    """The home page's team servers of `user` (a JupyterHub User): one entry per consortium
    in `consortia` ((id, name) pairs: every team the person belongs to, from the quota
    service's entitlements, `TeamBoard`), plus any other team server shared with them.

    Whether a server runs comes from the hub's shares: sharing is what grants access
    (quota_service/services/collab_hub.py) and every start shares the server with all the
    members. An entry has `consortium_id` (None for a share the board does not know: it is
    then started and stopped on the quota service's own page)."""
    orm_user = getattr(user, "orm_user", None)
    base_url = str((getattr(user, "settings", None) or {}).get("base_url", "/"))
    shared: dict[str, bool] = {}
    for share in getattr(orm_user, "shared_with_me", None) or []:
        spawner = getattr(share, "spawner", None)
        owner = getattr(share, "owner", None)
        if spawner is None or owner is None or spawner.name or not is_team_username(owner.name):
            continue
        shared[owner.name] = spawner.server is not None

    def entry(team: str, hub_user: str, consortium_id: int | None) -> dict[str, Any]:
        return {
            "team": team,
            "consortium_id": consortium_id,
            "user": hub_user,
            "running": shared.get(hub_user, False),
            "url": f"{base_url.rstrip('/')}/user/{quote(hub_user, safe='@~')}/",
        }

    found = []
    for consortium_id, name in consortia:
        hub_user = team_username(team_dir(name))
        found.append(entry(name, hub_user, consortium_id))
        shared.pop(hub_user, None)
    for hub_user in list(shared):
        found.append(entry(team_dir_of(hub_user) or hub_user, hub_user, None))
    return sorted(found, key=lambda t: str(t["team"]).lower())


class TeamBoard:
    """Each person's consortia as the last entitlements answer listed them (at sign-in, on
    the spawn form, at each spawn): a `template_vars` callable, like standing.StandingBoard,
    since JupyterHub renders the home page without asking the quota service. A consortium is
    listed while the person holds a share of it that is not revoked (leaving revokes it)."""

    def __init__(self) -> None:
        self._by_user: dict[str, tuple[tuple[int, str], ...]] = {}

    def __copy__(self) -> TeamBoard:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> TeamBoard:
        return self

    def record(self, ent: Any) -> None:
        consortia: dict[int, str] = {}
        for alloc in getattr(ent, "allocations", None) or []:
            cid, name = getattr(alloc, "consortium_id", None), getattr(alloc, "consortium", None)
            if cid and name and getattr(alloc, "status", "") != "revoked":
                consortia[int(cid)] = str(name)
        self._by_user[ent.username] = tuple(sorted(consortia.items(), key=lambda c: c[1]))

    def __call__(self, user: Any) -> list[dict[str, Any]]:
        if user is None:
            return []
        return team_servers_of(user, self._by_user.get(user.name, ()))
