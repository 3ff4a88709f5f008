"""The rule for named servers' names (no imports from the rest of hub_config, so the spawn
hook and `named_servers` can both use it).

JupyterHub 5.5.4 itself refuses only a "/" in a server name. Names here are also URL path
segments, KubeSpawner pod and label values and ledger keys, so they are kept plain.
"""

from __future__ import annotations

import re

SERVER_NAME_MAX = 32
# Lowercase, so a name is one URL, one pod name and one ledger key whatever the case typed.
_SERVER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
SERVER_NAME_RULE = (
    f"1 to {SERVER_NAME_MAX} characters: lowercase letters, digits, '-' and '_', "
    "starting with a letter or a digit"
)


def check_server_name(name: str) -> str | None:
    """Why `name` cannot name a server, or None when it can ("" is the default server)."""
    if name == "":
        return None
    if len(name) > SERVER_NAME_MAX:
        return f"it has {len(name)} characters; a server name has {SERVER_NAME_RULE}"
    if not _SERVER_NAME.fullmatch(name):
        return f"a server name has {SERVER_NAME_RULE}"
    return None


def refusal_message(name: str, reason: str) -> str:
    shown = name if len(name) <= 64 else name[:64] + "…"
    return f"{shown!r} cannot be a server name: {reason}."
