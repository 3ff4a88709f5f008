"""The link in a purge e-mail follows the service's configured prefix, not a literal one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import pytest
from sqlalchemy import select

from quota_service.config import Settings, SmtpSettings
from quota_service.factory import Factory
from quota_service.filesystem.notify import SmtpSender
from quota_service.jobs.purge import PurgeService
from quota_service.jobs.purge_common import StorageConfig
from quota_service.schema.purge_manifest import PurgeManifest
from tests.support.clock import FakeClock

from .conftest import Inbox
from .trees import layout, put


def _body(message: Message) -> str:
    parts = [p for p in message.walk() if p.get_content_type() == "text/plain"]
    payload = parts[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


@pytest.mark.integration
@pytest.mark.parametrize("prefix", ["/services/quota/", "/services/nexus-quota/"])
def test_the_e_mailed_list_link_uses_the_service_prefix(
    tmp_path: Path, db_url: str, smtp_inbox: Inbox, prefix: str
) -> None:
    lay = layout(tmp_path / "efs", ["bob"])
    put(lay.scr("bob") / "old.dat", b"o", age_days=60)
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0) + timedelta(days=30))
    settings = Settings(
        database_url=db_url,
        storage_root=lay.homes,
        scratch_root=lay.scratch,
        public_url="https://quota--service.nexus.example",
        base_path=prefix,
        smtp=SmtpSettings(host=smtp_inbox.host, port=smtp_inbox.port),
    )
    factory = Factory(settings, clock=clock)
    try:
        config = StorageConfig.from_settings(settings, tmp_path / "state")
        service = PurgeService(factory, config, sender=SmtpSender(smtp_inbox.host, smtp_inbox.port))
        with factory.unit_of_work() as svc:
            svc.users.ensure("bob", login=True).email = "bob@uni.test"
        service.plan()
        service.notify()
        with factory.unit_of_work() as svc:
            (manifest_id,) = svc.ctx.session.scalars(select(PurgeManifest.id)).all()
    finally:
        factory.dispose()

    (message,) = smtp_inbox.messages
    link = f"https://quota--service.nexus.example{prefix}storage/purges/{manifest_id}"
    assert link in _body(message)
