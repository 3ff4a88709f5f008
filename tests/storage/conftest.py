"""Fixtures for the storage tests: a real SMTP server and a bucket on moto's S3 server."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support.processes import free_port
from tests.support.s3 import S3Endpoint


@dataclass
class Inbox:
    host: str
    port: int
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content)
        msg["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(msg)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_inbox() -> Iterator[Inbox]:
    """A real SMTP server (aiosmtpd) listening on 127.0.0.1; messages land in `.messages`."""
    inbox = Inbox("127.0.0.1", free_port())
    controller = Controller(inbox, hostname=inbox.host, port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@dataclass
class Bucket:
    client: Any
    name: str


@pytest.fixture
def bucket(s3_server: S3Endpoint) -> Bucket:
    client = s3_server.client()
    name = f"archive-{secrets.token_hex(4)}"
    client.create_bucket(Bucket=name)
    return Bucket(client, name)
