"""Service settings: one YAML file plus environment variables (secrets only from the environment).

Precedence: environment (`NEXUS_QUOTA_*`) > the YAML file named by `NEXUS_QUOTA_CONFIG` > defaults.
Unknown keys are errors, not silent defaults.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)


class ConfigError(ValueError):
    """Settings could not be loaded; the message names the bad key."""


class ArchiveSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bucket: str = "nexus-home-archive"
    prefix: str = "archive/"
    storage_class: str = "GLACIER_IR"
    endpoint_url: str | None = None
    region: str = "us-east-1"


class SmtpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str | None = None
    port: int = 25
    sender: str = "nexus-quota@localhost"
    starttls: bool = False
    username: str | None = None
    # The password comes only from NEXUS_QUOTA_SMTP__PASSWORD.
    password: SecretStr | None = None
    # Recipient address template; {username} is replaced.
    recipient_template: str = "{username}@localhost"


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


@dataclass(frozen=True)
class PoolLimits:
    """Connections one process keeps to PostgreSQL. Every process of every replica holds up
    to `size + overflow`, and together they must stay under the server's max_connections
    (100 by default): past that, connecting fails for everyone. Beyond a few connections
    per core, more transactions at once only queue inside PostgreSQL instead of here."""

    size: int = 10
    overflow: int = 5
    timeout_seconds: float = 10.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEXUS_QUOTA_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    # Secret: from the environment (NEXUS_QUOTA_DATABASE_URL).
    database_url: str = "sqlite:///./.state/quota/quota.sqlite"
    policy_path: Path | None = Field(
        default=None, description="tier policy YAML; the packaged default when unset"
    )
    base_path: str = Field(
        default_factory=lambda: os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/quota/")
    )
    public_url: str = Field(default="", description="external hub URL, for links in e-mails")
    hub_api_url: str = Field(
        default_factory=lambda: os.environ.get(
            "JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api"
        )
    )
    # Secret: the service's own hub API token.
    hub_api_token: SecretStr | None = Field(
        default_factory=lambda: (
            SecretStr(os.environ["JUPYTERHUB_API_TOKEN"])
            if os.environ.get("JUPYTERHUB_API_TOKEN")
            else None
        )
    )
    oauth_client_id: str = Field(
        default_factory=lambda: os.environ.get("JUPYTERHUB_CLIENT_ID", "service-quota")
    )
    hub_service_name: str = Field(
        default_factory=lambda: os.environ.get("JUPYTERHUB_SERVICE_NAME", "quota"),
        description="this service's name at the hub: tokens need access:services!service=<it>",
    )
    # Secret: the key (after derivation) that encrypts and authenticates the pages' session
    # cookie.
    session_secret: SecretStr | None = None
    cookie_secure: bool | None = Field(
        default=None,
        description="the Secure flag on the pages' cookies; unset: on, except when the "
        "service listens on a loopback address only (plain-http local dev). Never taken "
        "from a request header",
    )
    token_cache_seconds: float = Field(
        default=10.0,
        ge=0,
        le=300,
        description="how long a hub token's identity is trusted without asking the hub "
        "again: the bound on trusting a token revoked elsewhere",
    )
    token_negative_cache_seconds: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="how long a token the hub refused is refused again without asking it",
    )
    limits: EdgeLimits = Field(default_factory=EdgeLimits)
    bind_host: str = "127.0.0.1"
    bind_port: int = 10101
    workers: int = Field(
        default=1,
        ge=1,
        le=32,
        description="service processes on one host; in Kubernetes, scale replicas instead",
    )
    db_pool_size: int = Field(
        default=PoolLimits.size,
        ge=1,
        le=200,
        description="database connections each process keeps open",
    )
    db_pool_overflow: int = Field(
        default=PoolLimits.overflow,
        ge=0,
        le=200,
        description="connections each process may open beyond those",
    )
    db_pool_timeout_seconds: float = Field(
        default=PoolLimits.timeout_seconds,
        gt=0,
        description="wait for a free connection before answering 503",
    )
    storage_root: Path = Path("./.state/homes")
    scratch_root: Path | None = None
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    fail_on_stale_schema: bool = True
    spawn_reservation_hours: float = Field(
        default=1.0, ge=0, description="CPU-hours of wall time an open session holds back"
    )
    cost_per_cpu_hour_usd: float = Field(default=0.05, ge=0)
    admin_groups: list[str] = Field(
        default_factory=list,
        description="informational only: quota admin rights come from the token's "
        "custom:nexus-quota:admin scope (the hub's quota-admin role), never from a group",
    )
    restore_on_login: bool = Field(
        default=True, description="restore an archived home when its owner starts a server"
    )

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.bind_host not in ("127.0.0.1", "::1", "localhost")

    @property
    def db_pool(self) -> PoolLimits:
        return PoolLimits(
            size=self.db_pool_size,
            overflow=self.db_pool_overflow,
            timeout_seconds=self.db_pool_timeout_seconds,
        )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("NEXUS_QUOTA_CONFIG")
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Load settings, turning validation errors into one readable ConfigError."""
    config_file = os.environ.get("NEXUS_QUOTA_CONFIG")
    if config_file:
        try:
            data = yaml.safe_load(Path(config_file).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read NEXUS_QUOTA_CONFIG={config_file}: {exc}") from None
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"{config_file}: expected a mapping of settings")
        for secret in ("database_url", "hub_api_token", "session_secret"):
            if data and secret in data:
                raise ConfigError(
                    f"{config_file}: {secret!r} is a secret; set NEXUS_QUOTA_{secret.upper()} "
                    "in the environment instead"
                )
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = ["invalid quota service settings:"]
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            lines.append(f"  {key}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("\n".join(lines)) from None
