"""In-app notices; scheduled ones carry a dedupe key so a job rerun sends nothing twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from ..schema import User, UserNotice
from .base import ServiceContext


class NoticeService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def post(
        self,
        user: User,
        kind: str,
        message: str,
        *,
        dedupe_key: str | None = None,
        due_at: datetime | None = None,
    ) -> UserNotice | None:
        """Add a notice; returns None when one with the same dedupe key exists."""
        if dedupe_key is not None:
            existing = self.ctx.session.scalar(
                select(UserNotice).where(UserNotice.dedupe_key == dedupe_key)
            )
            if existing is not None:
                return None
        notice = UserNotice(
            user_id=user.id,
            kind=kind,
            message=message,
            dedupe_key=dedupe_key,
            due_at=due_at,
            created_at=self.ctx.now(),
            read_at=None,
        )
        self.ctx.session.add(notice)
        return notice
