"""Purge step 2, notify: send each pending manifest's notices as they fall due."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from ..filesystem import manifest as mf
from ..filesystem.notify import (
    InvalidRecipientError,
    PurgeSummary,
    due_lead,
    recipient_for,
    render,
)
from ..schema import User
from ..schema.notice_delivery import NoticeDelivery
from ..schema.purge_manifest import ManifestStatus, PurgeManifest
from ..services import manifest_guard as guard
from ..store.manifests import is_pending
from .purge_common import PurgeJobBase
from .results import NoticeRow, StepReport

if TYPE_CHECKING:
    from ..factory import Services


class NotifyStep(PurgeJobBase):
    """`notify`: the notices that are due, by e-mail and in the app."""

    def notify(self, *, dry_run: bool = False) -> StepReport[NoticeRow]:
        with self._lock():
            return self._notify(dry_run)

    def _notify(self, dry_run: bool) -> StepReport[NoticeRow]:
        now = self.factory.clock()
        report = StepReport[NoticeRow]("notify", dry_run=dry_run)
        with self.factory.unit_of_work() as svc:
            if not dry_run:
                self._retire_unbound(svc, report)
            session = svc.ctx.session
            pending = list(
                session.scalars(
                    select(PurgeManifest).where(is_pending()).order_by(PurgeManifest.id)
                )
            )
            for m in pending:
                user = session.get(User, m.user_id)
                assert user is not None
                sent = self._sent(svc, m)
                floor = (m.first_notice_at or now) + self.max_lead
                act_at = max(m.action_at, floor)
                lead = due_lead(act_at, self.leads, sent, now)
                if lead is None:
                    continue
                report.manifests.append(
                    NoticeRow(user.username, m.id, lead, action_at=act_at.isoformat())
                )
                if dry_run:
                    continue
                try:
                    sample = self._sample(m)
                except (guard.ManifestRefused, mf.ManifestError, OSError) as exc:
                    # No notice names files from a file that is not the planned one.
                    report.errors.append(f"{user.username} manifest {m.id}: {exc}; not notified")
                    continue
                summary = PurgeSummary(
                    user=user.username,
                    reason=m.reason,
                    why=m.why,
                    action_at=act_at,
                    files=m.files,
                    bytes=m.bytes,
                    sample=sample,
                    manifest_url=self._manifest_url(m),
                )
                subject, body = render(summary, lead)
                delivered = True
                if self.sender is not None and self.config.smtp.host:
                    try:
                        to = recipient_for(
                            user.email, user.username, self.config.smtp.recipient_template
                        )
                        msg_id = self.sender.send(to, subject, body)
                    except (OSError, InvalidRecipientError) as exc:  # smtplib's are OSErrors
                        delivered = False
                        report.errors.append(f"{user.username}: e-mail failed: {exc}")
                    else:
                        session.add(self._delivery(m, lead, "email", to, msg_id, now))
                svc.notices.post(
                    user,
                    "purge-warning",
                    f"{subject}\n\n{body}",
                    dedupe_key=f"purge:{m.id}:{lead}",
                    due_at=act_at,
                )
                session.add(self._delivery(m, lead, "app", None, None, now))
                if delivered:
                    if m.first_notice_at is None:
                        m.first_notice_at = now
                    m.action_at = act_at
                    m.status = ManifestStatus.notified
            self._audit(svc, "storage.purge.notify", now.isoformat(), report, dry_run)
        return report

    def _sent(self, svc: Services, m: PurgeManifest) -> set[int]:
        """Leads whose notice reached every configured channel."""
        rows = svc.ctx.session.execute(
            select(NoticeDelivery.lead_days, NoticeDelivery.channel).where(
                NoticeDelivery.manifest_id == m.id
            )
        ).all()
        need = {"app"} | ({"email"} if self.sender is not None and self.config.smtp.host else set())
        by_lead: dict[int, set[str]] = {}
        for lead, channel in rows:
            by_lead.setdefault(lead, set()).add(channel)
        return {lead for lead, chans in by_lead.items() if need <= chans}

    def _delivery(
        self,
        m: PurgeManifest,
        lead: int,
        channel: str,
        to: str | None,
        msg_id: str | None,
        now: datetime,
    ) -> NoticeDelivery:
        return NoticeDelivery(
            manifest_id=m.id,
            user_id=m.user_id,
            lead_days=lead,
            channel=channel,
            recipient=to,
            message_id=msg_id,
            sent_at=now,
        )

    def _sample(self, m: PurgeManifest, n: int = 5) -> list[str]:
        """A few of the files, read from a checked copy of the manifest."""
        out: list[str] = []
        with tempfile.TemporaryDirectory(prefix="nexus-notify-") as tmp:
            copy, digest = guard.private_copy(m.id, Path(m.path), Path(tmp))
            guard.check_digest(m.digest, digest)
            for e in mf.read_entries(copy):
                if e.kind == "file":
                    out.append(mf.display(e.path))
                    if len(out) >= n:
                        break
        return out

    def _manifest_url(self, m: PurgeManifest) -> str:
        base = self.config.public_url.rstrip("/")
        return f"{base}{self.config.base_path}storage/purges/{m.id}" if base else ""
