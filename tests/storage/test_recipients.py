"""A username can add e-mail recipients (issue 15, item 16): every notice goes to one address.

Checked on the address rules themselves, through a real SMTP server (aiosmtpd on loopback), and
through the purge notify job on a real database with a person named to inject a recipient.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quota_service.config import Settings, SmtpSettings
from quota_service.factory import Factory
from quota_service.filesystem.notify import (
    InvalidRecipientError,
    SmtpSender,
    recipient_for,
    single_address,
)
from quota_service.jobs.purge import PurgeService
from quota_service.jobs.purge_common import StorageConfig
from tests.support.clock import FakeClock

from .conftest import Inbox
from .trees import layout, put

INJECTED = "x,eve@evil.test,"  # a valid username; "{username}@localhost" names eve too

REFUSED = [
    INJECTED + "@localhost",
    "bob, eve@evil.test",
    "bob@uni.test,eve@evil.test",
    "Eve <eve@evil.test>",
    "a<eve@evil.test>@localhost",
    "eve@evil.test (comment)",
    "bob@uni.test\r\nBcc: eve@evil.test",
    "bob@uni.test\nBcc: eve@evil.test",
    "",
    "@localhost",
    "alice",
    "alice@",
    "ålice@uni.test",
    "a" * 250 + "@x.test",
]


@pytest.mark.parametrize("text", REFUSED)
def test_anything_but_one_plain_address_is_refused(text: str) -> None:
    with pytest.raises(InvalidRecipientError, match="refused e-mail recipient"):
        single_address(text)


@pytest.mark.parametrize("text", ["alice@uni.test", "a.b-c_d+tag@x.test", '"a,b"@x.test'])
def test_one_address_is_accepted_as_it_is(text: str) -> None:
    assert single_address(text) == text


@pytest.mark.parametrize(
    "username",
    [INJECTED, "eve@evil.test", "a b", "eve%evil.test", "evil.test!eve", "alice+x", 'q"', "..a"],
)
def test_a_username_that_is_not_a_plain_local_part_is_refused(username: str) -> None:
    with pytest.raises(InvalidRecipientError, match=r"smtp\.recipient_template"):
        recipient_for(None, username, "{username}@nexus.test")


def test_the_template_and_the_persons_own_address() -> None:
    assert recipient_for(None, "jane.doe-2", "{username}@nexus.test") == "jane.doe-2@nexus.test"
    assert recipient_for("Jane@uni.test", INJECTED, "{username}@nexus.test") == "Jane@uni.test"
    with pytest.raises(InvalidRecipientError):
        recipient_for("jane@uni.test, eve@evil.test", "jane", "{username}@nexus.test")
    for template in ("{user}@x.test", "{username}{username}@x.test", "{username!r}@x.test", "x"):
        with pytest.raises(InvalidRecipientError, match="must contain"):
            recipient_for(None, "jane", template)


def test_smtp_sends_to_exactly_one_address(smtp_inbox: Inbox) -> None:
    sender = SmtpSender(smtp_inbox.host, smtp_inbox.port, sender="nexus@nexus.test")
    with pytest.raises(InvalidRecipientError) as caught:
        sender.send(INJECTED + "@localhost", "s", "b")
    assert isinstance(caught.value, OSError)  # reported like any failed send
    assert smtp_inbox.messages == []
    sender.send('"a,b"@nexus.test', "s", "b")
    assert [m["X-Envelope-To"] for m in smtp_inbox.messages] == ['"a,b"@nexus.test']


@pytest.fixture
def purge(tmp_path: Path, db_url: str, smtp_inbox: Inbox) -> Iterator[tuple[Factory, PurgeService]]:
    lay = layout(tmp_path / "efs", [INJECTED, "bob"])
    for user in (INJECTED, "bob"):
        put(lay.scr(user) / "old.dat", b"o", age_days=60)
    # Files' ctimes are the real now; scratch retention (14 days) needs the clock ahead of it.
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0) + timedelta(days=30))
    settings = Settings(
        database_url=db_url,
        storage_root=lay.homes,
        scratch_root=lay.scratch,
        smtp=SmtpSettings(host=smtp_inbox.host, port=smtp_inbox.port),
    )
    factory = Factory(settings, clock=clock)
    config = StorageConfig.from_settings(settings, tmp_path / "state")
    try:
        yield (
            factory,
            PurgeService(factory, config, sender=SmtpSender(smtp_inbox.host, smtp_inbox.port)),
        )
    finally:
        factory.dispose()


@pytest.mark.integration
def test_the_notify_job_never_mails_a_recipient_hidden_in_a_username(
    purge: tuple[Factory, PurgeService], smtp_inbox: Inbox
) -> None:
    factory, service = purge
    with factory.unit_of_work() as svc:
        svc.users.ensure(INJECTED, login=True)
        svc.users.ensure("bob", login=True).email = "bob@uni.test"
    planned = service.plan()
    assert {m["user"] for m in planned.manifests if m["entries"]} == {INJECTED, "bob"}

    report = service.notify()

    envelopes = [m["X-Envelope-To"] for m in smtp_inbox.messages]
    assert envelopes == ["bob@uni.test"]  # bob's notice still goes out
    assert not any("evil" in e for e in envelopes)
    assert len(report.errors) == 1 and report.errors[0].startswith(f"{INJECTED}: e-mail failed")
    assert "cannot be put into smtp.recipient_template" in report.errors[0]
