"""Purge notices: when they are due, what they say, and sending them over SMTP.

The rule the pipeline keeps: nothing is acted on unless a notice went out at least the longest
configured lead time (``max(lead_days)``, 7 days by default) before the action. The other leads
(1 day by default) are reminders sent when they fall due.

Every message goes to exactly one address (``single_address``): usernames may hold ``,``, ``<``,
``@`` and more, and a header like ``To: x,eve@evil.test,@localhost`` would be read as three
recipients. Anything else is refused with ``InvalidRecipientError`` and nothing is sent.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid

from .manifest import HOME_ALLOCATION_ENDED, HOME_INACTIVE, OVER_QUOTA_LRU, SCRATCH_RETENTION

WHAT = {
    SCRATCH_RETENTION: "delete scratch files you have not used recently",
    HOME_INACTIVE: "archive your home directory to cold storage and remove it from the platform",
    HOME_ALLOCATION_ENDED: "archive your home directory to cold storage and remove it",
    OVER_QUOTA_LRU: "archive your least recently used home files until you are under your quota",
}


# RFC 5321: a path is at most 256 octets, so an address at most 254.
MAX_ADDRESS = 254
# What a username may be to become a template's local part: a dot-atom of letters, digits,
# "_" and "-". Other atext ("%", "!", "+") can route mail elsewhere (percent hack, bang paths)
# or to someone else's subaddress.
TEMPLATE_LOCAL = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")


class InvalidRecipientError(smtplib.SMTPException, ValueError):
    """Not exactly one plain e-mail address: nothing was sent.

    An ``OSError`` (through ``SMTPException``), so a caller that reports failed sends per person
    reports this one too, and goes on with the others.
    """


def single_address(text: str) -> str:
    """`text` when it is exactly one plain ASCII address (``local@domain``), else raise."""
    why = None
    if not text.isascii() or not text.isprintable() or " " in text:
        why = "only printable ASCII without spaces is accepted"
    elif len(text) > MAX_ADDRESS:
        why = f"longer than {MAX_ADDRESS} characters"
    else:
        try:
            addr = Address(addr_spec=text)
        except (ValueError, IndexError, HeaderParseError):
            addr = None
        # Both parsers (ours and the one smtplib uses on headers) must see one identical address.
        if addr is None or addr.addr_spec != text or not addr.username or not addr.domain:
            why = "not one address of the form local@domain"
        elif getaddresses([text]) != [("", text)]:
            why = "it parses as more than one address"
    if why is not None:
        raise InvalidRecipientError(f"refused e-mail recipient {text!r}: {why}")
    return text


def recipient_for(email: str | None, username: str, template: str) -> str:
    """The one address a person's notices go to: their e-mail, else `template` with
    ``{username}``. Raises ``InvalidRecipientError`` (naming the key) when there is none."""
    if email:
        return single_address(email)
    fields = [f for _lit, f, _spec, _conv in string.Formatter().parse(template) if f is not None]
    if fields != ["username"] or "{username}" not in template:
        raise InvalidRecipientError(
            f"smtp.recipient_template {template!r} must contain {{username}} exactly once "
            "and no other field"
        )
    if not TEMPLATE_LOCAL.fullmatch(username):
        raise InvalidRecipientError(
            f"username {username!r} has no e-mail address and cannot be put into "
            "smtp.recipient_template (only letters, digits, '.', '_' and '-' are)"
        )
    return single_address(template.format(username=username))


def due_lead(
    action_at: datetime, lead_days: Sequence[int], already_sent: Iterable[int], now: datetime
) -> int | None:
    """The lead (in days) whose notice is due now and not yet sent, or None.

    When several are due (a run missed a day), only the shortest is sent: one e-mail, not a burst.
    """
    sent = set(already_sent)
    due = [d for d in lead_days if d not in sent and now >= action_at - timedelta(days=d)]
    return min(due) if due else None


def may_act(first_notice_at: datetime | None, lead_days: Sequence[int], now: datetime) -> bool:
    """True when a notice was sent at least the longest lead time before `now`."""
    if first_notice_at is None:
        return False
    return now - first_notice_at >= timedelta(days=max(lead_days, default=0))


@dataclass(frozen=True, slots=True)
class PurgeSummary:
    user: str
    reason: str
    why: str
    action_at: datetime
    files: int
    bytes: int
    sample: Sequence[str]  # a few display paths
    manifest_url: str = ""


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{n} B"


def render(summary: PurgeSummary, lead: int) -> tuple[str, str]:
    """Subject and plain-text body of a purge notice."""
    when = f"{summary.action_at:%Y-%m-%d %H:%M} UTC"
    days = f"{lead} day{'s' if lead != 1 else ''}"
    subject = f"[Roman Research Nexus] Storage clean-up in {days}: {summary.files} files"
    lines = [
        f"Hello {summary.user},",
        "",
        f"On or after {when} the platform will {WHAT.get(summary.reason, summary.reason)}.",
        f"Why: {summary.why}.",
        f"It concerns {summary.files} file{'s' if summary.files != 1 else ''} "
        f"({_human(summary.bytes)}).",
    ]
    if summary.sample:
        lines += ["", "For example:"] + [f"  {p}" for p in summary.sample]
    if summary.manifest_url:
        lines += ["", f"The full list: {summary.manifest_url}"]
    lines += [
        "",
        "Using a file (reading or changing it) before then keeps it: every file is checked again",
        "just before anything happens to it. Archived files can be restored: logging in again",
        "restores an archived home automatically.",
    ]
    return subject, "\n".join(lines) + "\n"


@dataclass
class SmtpSender:
    host: str
    port: int = 25
    sender: str = "nexus-quota@localhost"
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0

    def send(self, to: str, subject: str, body: str, when: datetime | None = None) -> str:
        """Send one plain-text message to exactly one address; returns its Message-ID.

        Raises ``InvalidRecipientError`` (nothing sent) unless `to` is one plain address.
        """
        to = single_address(to)
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = format_datetime(when or datetime.now().astimezone())
        msg_id = make_msgid(domain="nexus.roman")
        msg["Message-ID"] = msg_id
        msg.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username and self.password:
                smtp.login(self.username, self.password)
            # The envelope names the one checked address, never what a header parser makes of it.
            smtp.send_message(msg, to_addrs=[to])
        return msg_id
