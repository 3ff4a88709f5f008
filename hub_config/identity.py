"""Who a MyST sign-in is: the stable subject claim, not the mutable `preferred_username`.

A person's hub username is their `preferred_username` at their first sign-in (readable, and
the name of their directories by hub_config.userdirs), bound for good to their `sub`: the
binding lives in a table of the hub's own database (`nexus_oidc_subjects`). Later sign-ins
of that `sub` get the bound name whatever `preferred_username` says, and a name bound to one
`sub` is refused to every other, so changing one's MyST username takes over nobody.

Admin rights: the groups claim can carry groups people make themselves, so the hub groups
named in `admin_groups` are never taken from it. They come only from `admin_claim`, a claim
the identity provider's own administrators set; without one, no group makes an admin.
docs/security-hub.md explains the choice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from oauthenticator.generic import GenericOAuthenticator
from sqlalchemy.exc import IntegrityError
from tornado import web
from traitlets import Unicode

from .collab import is_team_username, reserved_name_refusal
from .userdirs import check_username

metadata = sa.MetaData()
subjects = sa.Table(
    "nexus_oidc_subjects",
    metadata,
    sa.Column("subject", sa.Unicode(255), primary_key=True),
    sa.Column("username", sa.Unicode(255), nullable=False, unique=True),
    sa.Column("bound_at", sa.DateTime, nullable=False),
)


class NameTaken(Exception):
    """The username is bound to another subject."""


class SubjectStore:
    """subject -> username, one row each way unique, in the hub's database."""

    def __init__(self, engine: sa.engine.Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def username_of(self, subject: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(subjects.c.username).where(subjects.c.subject == subject)
            ).first()
        return None if row is None else str(row[0])

    def bind(self, subject: str, username: str) -> str:
        """The name bound to `subject`, binding `username` on first sight (raises NameTaken)."""
        bound = self.username_of(subject)
        if bound is not None:
            return bound
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    subjects.insert().values(
                        subject=subject, username=username, bound_at=datetime.now(UTC)
                    )
                )
        except IntegrityError:
            # Either this subject was bound concurrently, or the name belongs to another.
            bound = self.username_of(subject)
            if bound is not None:
                return bound
            raise NameTaken(username) from None
        return username


def claim_values(info: dict[str, Any], claim: str) -> set[str]:
    """A claim (dotted path) as a set of strings: a list, or a space/comma separated string."""
    value: Any = info
    for key in claim.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if isinstance(value, str):
        return {v for v in value.replace(",", " ").split() if v}
    if isinstance(value, list | tuple | set):
        return {str(v) for v in value}
    return set()


class NexusOAuthenticator(GenericOAuthenticator):  # type: ignore[misc]
    """GenericOAuthenticator with a subject-bound username and provider-controlled admins."""

    subject_claim = Unicode(
        "sub", help="The stable, never reassigned claim that identifies a MyST account."
    ).tag(config=True)
    admin_claim = Unicode(
        "",
        help="Claim (dotted path) set only by the identity provider's administrators; the "
        "admin_groups it lists make hub admins. Empty: no group makes an admin.",
    ).tag(config=True)
    display_name_claim = Unicode("name", help="Shown to people; never identifies.").tag(config=True)

    _store: SubjectStore | None = None

    def subject_store(self) -> SubjectStore:
        if self._store is None:
            self._store = SubjectStore(self.parent.db.get_bind())
        return self._store

    def user_info_of(self, auth_state: dict[str, Any]) -> dict[str, Any]:
        info = auth_state.get(self.user_auth_state_key) or {}
        return info if isinstance(info, dict) else {}

    async def update_auth_model(self, auth_model: dict[str, Any]) -> dict[str, Any]:
        auth_state = auth_model["auth_state"]
        info = self.user_info_of(auth_state)
        subject = info.get(self.subject_claim)
        if not isinstance(subject, str | int) or str(subject) == "":
            raise web.HTTPError(
                403, f"MyST did not send the '{self.subject_claim}' claim, so you cannot sign in"
            )
        subject = str(subject)
        wanted = auth_model["name"]
        bound = self.subject_store().username_of(subject)
        if bound is None:
            refusal = check_username(wanted) or reserved_name_refusal(wanted)
            if refusal is not None:
                raise web.HTTPError(403, refusal)
            try:
                bound = self.subject_store().bind(subject, wanted)
            except NameTaken:
                self.log.warning("sign-in of %s refused: %r is bound to another", subject, wanted)
                raise web.HTTPError(
                    403,
                    f"The username {wanted!r} belongs to another MyST account here. Change "
                    "your MyST username, or ask an administrator.",
                ) from None
        elif bound != wanted:
            self.log.info("MyST account %s signs in as %r (now called %r)", subject, bound, wanted)
        auth_model["name"] = bound
        auth_state["subject"] = subject
        display = info.get(self.display_name_claim)
        auth_state["display_name"] = str(display) if display else bound
        return auth_model

    async def refresh_user(self, user: Any, handler: Any = None, **kwargs: Any) -> Any:
        """A team user (hub_config/collab.py) never signs in, so it has no MyST tokens to
        refresh: it stays valid; everyone else is refreshed by OAuthenticator."""
        if is_team_username(user.name):
            return True
        return await super().refresh_user(user, handler, **kwargs)

    async def get_user_groups(self, auth_state: dict[str, Any]) -> set[str]:
        groups = set(await super().get_user_groups(auth_state))
        granted: set[str] = set()
        if self.admin_claim:
            granted = claim_values(self.user_info_of(auth_state), self.admin_claim)
        admin = set(self.admin_groups)
        return (groups - admin) | (granted & admin)
