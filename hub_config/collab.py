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


def team_servers_of(user: Any) -> list[dict[str, Any]]:
    """The team servers shared with `user` (a JupyterHub User; a `template_vars` callable
    for the home page's block): team, hub user, whether it runs and where it opens.
    Sharing is what grants access (quota_service/services/collab_hub.py), so this is the list
    of teams whose server this person may open."""
    orm_user = getattr(user, "orm_user", None)
    base_url = str((getattr(user, "settings", None) or {}).get("base_url", "/"))
    found = []
    for share in getattr(orm_user, "shared_with_me", None) or []:
        spawner = getattr(share, "spawner", None)
        owner = getattr(share, "owner", None)
        if spawner is None or owner is None or spawner.name or not is_team_username(owner.name):
            continue
        found.append(
            {
                "team": team_dir_of(owner.name),
                "user": owner.name,
                "running": spawner.server is not None,
                "url": f"{base_url.rstrip('/')}/user/{quote(owner.name, safe='@~')}/",
            }
        )
    return sorted(found, key=lambda t: str(t["team"]))
