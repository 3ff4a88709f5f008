"""The audit log: every admin, lead and job action is appended here, never changed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..models.v1 import AuditView
from ..schema import AuditEvent
from .base import ServiceContext


class AuditService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def record(
        self,
        *,
        actor: str,
        action: str,
        target_type: str,
        target_id: str | int,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> AuditEvent:
        event = AuditEvent(
            at=self.ctx.now(),
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            before=before,
            after=after,
            reason=reason,
        )
        self.ctx.session.add(event)
        return event

    def list(
        self, *, limit: int = 100, before_id: int | None = None, actor: str | None = None
    ) -> list[AuditView]:
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(AuditEvent.id < before_id)
        if actor:
            query = query.where(AuditEvent.actor == actor)
        return [
            AuditView.model_validate(e, from_attributes=True)
            for e in self.ctx.session.scalars(query)
        ]
