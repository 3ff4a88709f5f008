"""The preset MyST accounts of the dev platform, and their allocations in the quota database."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ALLOWED_GROUPS = ("myst-users",)
ADMIN_GROUPS = ("nexus-admins",)
# The claim that carries admin roles; only the identity provider's administrators set it, so a
# `groups` entry of the same name makes nobody an admin (docs/security-hub.md).
ADMIN_CLAIM = "nexus_roles"
CONSORTIUM = "roman-sims"


@dataclass(frozen=True)
class Account:
    """A MyST account of the OIDC stand-in; sign in by typing `username` as the subject."""

    username: str
    role: str
    groups: tuple[str, ...]

    def claims(self) -> dict[str, Any]:
        return {
            "sub": self.username,
            "preferred_username": self.username,
            "email": f"{self.username}@example.org",
            "name": self.username.title(),
            "groups": list(self.groups),
            ADMIN_CLAIM: [g for g in self.groups if g in ADMIN_GROUPS],
        }


ACCOUNTS = (
    Account("ellen", "Entry user", ("myst-users",)),
    Account("rosa", "Research user", ("myst-users", "roman-research")),
    Account("leo", f"consortium lead ({CONSORTIUM})", ("myst-users", CONSORTIUM)),
    Account("mia", f"consortium member ({CONSORTIUM})", ("myst-users", CONSORTIUM)),
    Account("ada", "admin", ("myst-users", "nexus-admins")),
    Account("oscar", "outside the allowed groups: refused", ("other-project",)),
)


def account(username: str) -> Account:
    for acct in ACCOUNTS:
        if acct.username == username:
            return acct
    raise KeyError(username)


class SeedError(RuntimeError):
    """A `nexus-quota` command failed while seeding the preset allocations."""


class QuotaCli:
    """Runs `nexus-quota` against the dev database (the same CLI an admin uses)."""

    def __init__(self, argv0: Sequence[str], env: Mapping[str, str], log: Any) -> None:
        self.argv0 = list(argv0)
        self.env = dict(env)
        self.log = log

    def run(self, *args: str, ok: Sequence[int] = (0,)) -> subprocess.CompletedProcess[str]:
        cmd = [*self.argv0, "--actor", "dev:make-dev", *args]
        done = subprocess.run(cmd, env=self.env, capture_output=True, text=True, check=False)
        self.log.write(f"$ nexus-quota {' '.join(args)}  -> {done.returncode}\n")
        self.log.write(done.stdout + done.stderr)
        self.log.flush()
        if done.returncode not in ok:
            raise SeedError(
                f"`nexus-quota {' '.join(args)}` failed ({done.returncode}): "
                + "\n".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            )
        return done

    def allocations(self, username: str) -> list[dict[str, Any]]:
        done = self.run("users", "show", username, "--json", ok=(0, 1))
        if done.returncode != 0:
            return []  # nobody by that name yet
        data = json.loads(done.stdout)
        return list(data.get("allocations") or [])


def _has(allocs: list[dict[str, Any]], *, tier: str, consortium: str | None = None) -> bool:
    return any(
        a.get("tier") == tier
        and a.get("status") == "active"
        and (consortium is None or a.get("consortium") == consortium)
        for a in allocs
    )


def seed(cli: QuotaCli) -> list[str]:
    """Give the Research user and the consortium their allocations unless they have them.

    Idempotent: a restart finds them and changes nothing. Returns what it did.
    """
    done: list[str] = []
    if not _has(cli.allocations("rosa"), tier="research"):
        cli.run("grant", "rosa", "research", "--reason", "dev preset")
        done.append("granted rosa a Research allocation")
    if not _has(cli.allocations("leo"), tier="consortium", consortium=CONSORTIUM):
        cli.run(
            "consortium", "create", CONSORTIUM,
            "--cpu-hours", "50000", "--home-soft-gib", "500", "--home-hard-gib", "600",
            "--term-days", "365", "--lead", "leo",
            "--proposal-ref", "DEV-0001", "--reason", "dev preset",
        )  # fmt: skip
        cli.run("consortium", "set-share", CONSORTIUM, "leo", "10000")
        done.append(f"created consortium {CONSORTIUM} led by leo")
    if not _has(cli.allocations("mia"), tier="consortium", consortium=CONSORTIUM):
        cli.run("consortium", "add-member", CONSORTIUM, "mia", "--share", "5000")
        done.append(f"added mia to {CONSORTIUM}")
    return done
