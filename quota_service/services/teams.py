"""Teams: each consortium's folder name and POSIX group, and who is in which team.

A consortium gets `team_dir` (hub_config/teamdirs.py) and `gid` (`teams.gid_base` + its id)
once, when it is created; `identity` also fills them for a row an older release created
during an upgrade. A person's uid is `teams.uid_base` + their user id. Every consortium a
person is a lead or member of is one of their teams, whatever allocation a session is
charged to: the spawn decision hands all of them to the hub, which mounts them.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from hub_config.teamdirs import unique_team_dir

from ..errors import Conflict
from ..filesystem.teams import TeamFolder, TeamFolderError, ensure_team_folder
from ..models.v1 import TeamView
from ..schema import Consortium, ConsortiumMember, User
from .base import ServiceContext

log = logging.getLogger(__name__)


class TeamService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def uid_of(self, user: User) -> int:
        return self.ctx.teams.uid_of(user.id)

    def identity(self, consortium: Consortium) -> tuple[str, int]:
        """The consortium's (team_dir, gid), assigned and stored on first use."""
        if consortium.team_dir is None or consortium.gid is None:

            def taken(candidate: str) -> bool:
                found = self.ctx.session.scalar(
                    select(Consortium.id).where(
                        Consortium.team_dir == candidate, Consortium.id != consortium.id
                    )
                )
                return found is not None

            if consortium.team_dir is None:
                consortium.team_dir = unique_team_dir(consortium.name, taken)
            if consortium.gid is None:
                consortium.gid = self._free_gid(consortium)
            self.ctx.session.flush()
        assert consortium.team_dir is not None and consortium.gid is not None
        return consortium.team_dir, consortium.gid

    def _free_gid(self, consortium: Consortium) -> int:
        """`teams.gid_base` + its id, unless another team has that gid (a lowered base).

        Raises:
            Conflict: The gid belongs to another team (`gid_taken`).
        """
        gid = self.ctx.teams.gid_of(consortium.id)
        other = self.ctx.session.scalar(
            select(Consortium.name).where(Consortium.gid == gid, Consortium.id != consortium.id)
        )
        if other is not None:
            raise Conflict(
                f"gid {gid} (teams.gid_base {self.ctx.teams.gid_base} + id {consortium.id}) "
                f"is already the group of consortium {other!r}: teams.gid_base was lowered; "
                "set it above every gid in use",
                code="gid_taken",
            )
        return gid

    def view(self, consortium: Consortium) -> TeamView:
        team_dir, gid = self.identity(consortium)
        return TeamView(name=consortium.name, team_dir=team_dir, gid=gid)

    def teams_of(self, user: User) -> list[TeamView]:
        """Every team `user` leads or belongs to, by consortium id."""
        rows = self.ctx.session.scalars(
            select(Consortium)
            .join(ConsortiumMember, ConsortiumMember.consortium_id == Consortium.id)
            .where(ConsortiumMember.user_id == user.id, Consortium.pool_id.is_not(None))
            .order_by(Consortium.id)
        ).all()
        return [self.view(c) for c in rows]

    def all_teams(self) -> list[TeamView]:
        """Every consortium's team, by id (for `nexus-quota teams sync`)."""
        rows = self.ctx.session.scalars(
            select(Consortium).where(Consortium.pool_id.is_not(None)).order_by(Consortium.id)
        ).all()
        return [self.view(c) for c in rows]

    def provision(self, consortium: Consortium) -> str | None:
        """Make the team folder now, when this process can (`teams.root` set,
        `teams.provision_on_create`, the root or its parent there, allowed to set owners);
        otherwise `nexus-quota teams sync` makes it. Returns what happened, or why not (None:
        not attempted); never raises for the file system."""
        settings = self.ctx.teams
        if not settings.provision_on_create or settings.root is None:
            return None
        team_dir, gid = self.identity(consortium)
        # The root itself only where its parent is (make dev's state folder); elsewhere it is
        # a mount, and a missing one is the CronJob's business.
        create_root = settings.root.parent.is_dir()
        try:
            done = ensure_team_folder(
                settings.root, TeamFolder(team_dir, gid), create_root=create_root
            )
        except (TeamFolderError, OSError) as exc:
            log.warning("team folder %s not made now (teams sync makes it): %s", team_dir, exc)
            return f"not made: {exc}"
        return done.action
