"""The parts of the quota service's settings: nested sections (`archive`, `smtp`,
`reconcile`, `limits`, `teams`) and the pool limits; `Settings` itself is in config.py."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class ArchiveSettings(BaseModel):
    """Where archived homes go (docs/storage.md, "Archive")."""

    model_config = ConfigDict(extra="forbid")

    bucket: str = Field(default="nexus-home-archive", description="S3 bucket of the archives")
    prefix: str = Field(default="archive/", description="key prefix of the archives in the bucket")
    storage_class: str = Field(
        default="GLACIER_IR", description="S3 storage class the archives are written with"
    )
    endpoint_url: str | None = Field(
        default=None, description="S3 endpoint; AWS's when unset (moto's server in dev and tests)"
    )
    region: str = Field(default="us-east-1", description="AWS region of the bucket")


class SmtpSettings(BaseModel):
    """E-mail for purge notices; none is sent while `host` is unset."""

    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(default=None, description="SMTP server; unset: no e-mail")
    port: int = Field(default=25, description="SMTP port")
    sender: str = Field(default="nexus-quota@localhost", description="From address")
    starttls: bool = Field(default=False, description="upgrade the connection with STARTTLS")
    username: str | None = Field(default=None, description="SMTP login; unset: no login")
    password: SecretStr | None = Field(
        default=None,
        description="**secret**: the SMTP login's password (set it in the environment)",
    )
    recipient_template: str = Field(
        default="{username}@localhost",
        description="a person's address; {username} is replaced by their hub username",
    )


class ReconcileSettings(BaseModel):
    """Thresholds of `nexus-quota reconcile`; its options override them per run."""

    model_config = ConfigDict(extra="forbid")

    warn_hours: float = Field(
        default=1.0, ge=0, description="warn this long before a budget or session-length limit"
    )
    grace_minutes: float = Field(
        default=15.0,
        ge=0,
        description="time between the warning and the stop of a server past its limit",
    )
    orphan_grace_seconds: float = Field(
        default=120.0,
        ge=0,
        description="sessions younger than this are never closed as orphans (spawns in flight)",
    )
    adopt_size: str = Field(
        default="small",
        description="size of servers started fail-open (the hub's fallback_size name); they "
        "are adopted: charged from their start to the person's Entry allocation",
    )
    collab_idle_hours: float = Field(
        default=3.0,
        gt=0,
        description="a team collaboration server is stopped this long after its last "
        "activity (the hub's last_activity: the last browser left)",
    )


class TeamSettings(BaseModel):
    """POSIX identities and folders of teams (docs/deploy.md, "Team folders on EFS").

    A person's uid is `uid_base + users.id`; a consortium's gid is `gid_base + consortia.id`,
    stored with the consortium when it is created, so changing `gid_base` later moves only
    new teams. Keep both ranges clear of the image's own users and groups."""

    model_config = ConfigDict(extra="forbid")

    uid_base: int = Field(
        default=200000,
        ge=1000,
        le=2**31 - 2**24,
        description="a person's POSIX uid is this plus their user id (team folder owners)",
    )
    gid_base: int = Field(
        default=60000,
        ge=1000,
        le=2**31 - 2**24,
        description="a consortium's POSIX gid is this plus its id, stored when it is created",
    )
    root: Path | None = Field(
        default=None,
        description="folder holding the team folders (<root>/<team_dir>); unset: a `teams` "
        "folder beside storage_root for `teams sync` and the scan, and none made at creation",
    )
    provision_on_create: bool = Field(
        default=True,
        description="with `root` set, create the team folder when a consortium is created, if "
        "this process can (otherwise `nexus-quota teams sync` does)",
    )

    def uid_of(self, user_id: int) -> int:
        return self.uid_base + user_id

    def user_id_of(self, uid: int) -> int | None:
        """The user id whose uid is `uid`, or None for a uid outside the people's range."""
        user_id = uid - self.uid_base
        return user_id if user_id > 0 else None

    def gid_of(self, consortium_id: int) -> int:
        return self.gid_base + consortium_id


class RateSetting(BaseModel):
    """A token bucket: `burst` requests at once, refilled at `per_minute`."""

    model_config = ConfigDict(extra="forbid")

    per_minute: float = Field(gt=0, description="sustained requests per minute")
    burst: int = Field(ge=1, description="requests allowed at once after a quiet spell")


class EdgeLimits(BaseModel):
    """Limits at the HTTP edge (quota_service/edge.py; docs/api.md "Limits"). Rate limits
    are kept per process: with N processes (workers x replicas) a client may get up to N
    times as much when its connections land on different ones."""

    model_config = ConfigDict(extra="forbid")

    api_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="largest request body of the JSON API; larger ones get 413 unread",
    )
    form_body_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        description="largest page form body (urlencoded; multipart is refused with 415); "
        "room for a 20,000-character justification in any script, percent-encoded",
    )
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"],
        description="peers (IPs or CIDRs) whose X-Forwarded-For is believed: JupyterHub's "
        "proxy and any ingress in front of it. The client is the right-most address not "
        "in this list",
    )
    exempt_clients: list[str] = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"],
        description="clients (after X-Forwarded-For) never rate-limited: probes and tools "
        "on the service's own host",
    )
    per_client: RateSetting = Field(
        default_factory=lambda: RateSetting(per_minute=1200, burst=200),
        description="every request, by client address",
    )
    per_identity: RateSetting = Field(
        default_factory=lambda: RateSetting(per_minute=600, burst=120),
        description="every authenticated request, by person or service; the hub's hook "
        "and jobs tokens are exempt",
    )
    failed_tokens_per_client: RateSetting = Field(
        default_factory=lambda: RateSetting(per_minute=10, burst=20),
        description="tokens the hub refused, by client address; once spent, unknown tokens "
        "from that client get 429 without asking the hub",
    )
    token_lookups: RateSetting = Field(
        default_factory=lambda: RateSetting(per_minute=1200, burst=200),
        description="look-ups of unknown tokens at the hub, all clients together",
    )
    max_tracked_clients: int = Field(
        default=10_000, ge=100, description="buckets kept per limit (least recent dropped)"
    )
    requests_per_day: int = Field(
        default=10,
        ge=1,
        description="upgrade/renewal requests one person may file in 24 hours (429 after)",
    )

    @field_validator("trusted_proxies", "exempt_clients")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR block") from None
        return value


DEFAULT_STATE_DIR = Path(".state/purge")


@dataclass(frozen=True)
class PoolLimits:
    """Connections one process keeps to PostgreSQL. Every process of every replica holds up
    to `size + overflow`, and together they must stay under the server's max_connections
    (100 by default): past that, connecting fails for everyone. Beyond a few connections
    per core, more transactions at once only queue inside PostgreSQL instead of here."""

    size: int = 10
    overflow: int = 5
    timeout_seconds: float = 10.0
