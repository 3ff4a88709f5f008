"""Notices: the schedule rules, and real messages through a real SMTP server on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from quota_service.filesystem.manifest import SCRATCH_RETENTION
from quota_service.filesystem.notify import PurgeSummary, SmtpSender, due_lead, may_act, render

from .conftest import Inbox

ACT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
LEADS = [7, 1]


def test_due_lead_follows_the_schedule() -> None:
    assert due_lead(ACT, LEADS, [], ACT - timedelta(days=8)) is None
    assert due_lead(ACT, LEADS, [], ACT - timedelta(days=7)) == 7
    assert due_lead(ACT, LEADS, [7], ACT - timedelta(days=3)) is None
    assert due_lead(ACT, LEADS, [7], ACT - timedelta(hours=23)) == 1
    assert due_lead(ACT, LEADS, [7, 1], ACT) is None
    # A missed day: one e-mail (the nearest lead), not a burst of both.
    assert due_lead(ACT, LEADS, [], ACT - timedelta(hours=12)) == 1


def test_nothing_may_act_without_a_notice_the_full_lead_time_earlier() -> None:
    now = ACT
    assert not may_act(None, LEADS, now)
    assert not may_act(now - timedelta(days=6, hours=23), LEADS, now)
    assert may_act(now - timedelta(days=7), LEADS, now)


def test_notice_goes_through_smtp_with_what_and_when(smtp_inbox: Inbox) -> None:
    summary = PurgeSummary(
        user="alice",
        reason=SCRATCH_RETENTION,
        why="scratch files not used for 14 days are deleted",
        action_at=ACT,
        files=1234,
        bytes=5 * 1024**3,
        sample=["runs/old-1.fits", "new\\nline"],
        manifest_url="https://nexus.example/services/quota/storage/purges/r1",
    )
    subject, body = render(summary, 7)
    sender = SmtpSender(smtp_inbox.host, smtp_inbox.port, sender="nexus@nexus.test")
    msg_id = sender.send("alice@nexus.test", subject, body)
    assert len(smtp_inbox.messages) == 1
    msg = smtp_inbox.messages[0]
    assert msg["Message-ID"] == msg_id
    assert msg["X-Envelope-To"] == "alice@nexus.test"
    assert "in 7 days" in msg["Subject"] and "1234 files" in msg["Subject"]
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    text = payload.decode()
    assert "2026-12-01 03:00 UTC" in text
    assert "5.0 GiB" in text and "runs/old-1.fits" in text
    assert "services/quota/storage/purges/r1" in text
