"""Service settings: one object (`Settings`) per process, from a YAML file and the environment.

Precedence, first wins:
1. values passed in code (tests, `load_settings(**overrides)`);
2. `NEXUS_QUOTA_<NAME>` environment variables (nested: `NEXUS_QUOTA_SMTP__HOST`), and the two
   older names kept working: `NEXUS_STORAGE_STATE_DIR` and `NEXUS_QUOTA_JOBS_TOKEN`;
3. the YAML file named by `NEXUS_QUOTA_CONFIG` (keys are the field names; secrets refused);
4. the variables JupyterHub gives a service it runs (`JUPYTERHUB_SERVICE_PREFIX`,
   `JUPYTERHUB_API_URL`, `JUPYTERHUB_API_TOKEN`, ...): below the YAML file, as when they were
   defaults; an empty one counts as unset;
5. the defaults below.

Unknown keys are errors, not silent defaults. Every setting carries a description:
docs/quota-service.md's table is generated from them (`make settings-docs`).
`PROMETHEUS_MULTIPROC_DIR` is not a setting: the prometheus-client library reads it itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from hub_config.validation import format_validation_error

from .config_parts import (
    DEFAULT_STATE_DIR,
    ArchiveSettings,
    EdgeLimits,
    PoolLimits,
    RateSetting,
    ReconcileSettings,
    SmtpSettings,
    TeamSettings,
)
from .names import (
    CONFIG_ENV,
    DEFAULT_PORT,
    ENV_PREFIX,
    OAUTH_CLIENT_ID,
    SCOPE_ADMIN,
    SERVICE_NAME,
)
from .names import SERVICE_PREFIX as DEFAULT_SERVICE_PREFIX

# Secrets: only from the environment, never from the YAML file.
SECRET_FIELDS = ("database_url", "hub_api_token", "session_secret", "jobs_token")


def _env(name: str, *fallbacks: str) -> AliasChoices:
    """The environment variables of a setting: `NEXUS_QUOTA_<NAME>`, then the fallbacks."""
    return AliasChoices(ENV_PREFIX + name.upper(), *fallbacks)


class ConfigError(ValueError):
    """Settings could not be loaded; the message names the bad key."""


class Settings(BaseSettings):
    """Every setting of the quota service and its jobs (precedence: the module's docstring)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        # YAML keys and code use the field names; the aliases below are environment names.
        populate_by_name=True,
    )

    database_url: str = Field(
        default="sqlite:///./.state/quota/quota.sqlite",
        description="**secret**, env only: SQLAlchemy URL; production: postgresql+psycopg://…",
    )
    policy_path: Path | None = Field(
        default=None, description="tier policy YAML; the packaged default when unset"
    )
    base_path: str = Field(
        default=DEFAULT_SERVICE_PREFIX,
        validation_alias=_env("base_path", "JUPYTERHUB_SERVICE_PREFIX"),
        description="URL prefix the service answers under",
    )
    public_url: str = Field(default="", description="external hub URL, for links in e-mails")
    hub_api_url: str = Field(
        default="http://127.0.0.1:8081/hub/api",
        validation_alias=_env("hub_api_url", "JUPYTERHUB_API_URL"),
        description="the hub's REST API: where tokens are checked and reconcile lists servers",
    )
    hub_api_token: SecretStr | None = Field(
        default=None,
        validation_alias=_env("hub_api_token", "JUPYTERHUB_API_TOKEN"),
        description="**secret**, env only: the service's own hub API token (also its OAuth "
        "client secret)",
    )
    jobs_token: SecretStr | None = Field(
        default=None,
        validation_alias=_env("jobs_token", "JUPYTERHUB_API_TOKEN"),
        description="**secret**, env only: the quota-jobs service's hub token, for "
        "`nexus-quota reconcile`",
    )
    oauth_client_id: str = Field(
        default=OAUTH_CLIENT_ID,
        validation_alias=_env("oauth_client_id", "JUPYTERHUB_CLIENT_ID"),
        description="the service's OAuth client id at the hub (sign-in to the pages)",
    )
    hub_service_name: str = Field(
        default=SERVICE_NAME,
        validation_alias=_env("hub_service_name", "JUPYTERHUB_SERVICE_NAME"),
        description="this service's name at the hub: tokens need access:services!service=<it>",
    )
    hub_base_url: str = Field(
        default="",
        validation_alias=_env("hub_base_url", "JUPYTERHUB_BASE_URL"),
        description="the hub's base URL, set by a hub running the service; with hub_host, "
        "where sign-in and sign-out send the browser (else public_url, else this origin)",
    )
    hub_host: str = Field(
        default="",
        validation_alias=_env("hub_host", "JUPYTERHUB_HOST"),
        description="the hub's origin when the service has its own host (subdomain_host)",
    )
    oauth_scopes: str = Field(
        default="",
        validation_alias=_env("oauth_scopes", "JUPYTERHUB_OAUTH_SCOPES"),
        description="JSON list of scopes to ask for at sign-in; empty: the hub's defaults",
    )
    oauth_callback_url: str = Field(
        default="",
        validation_alias=_env("oauth_callback_url", "JUPYTERHUB_OAUTH_CALLBACK_URL"),
        description="the registered OAuth callback; empty: <base_path>oauth_callback",
    )
    session_secret: SecretStr | None = Field(
        default=None,
        description="**secret**, env only: the key (after derivation) that encrypts and "
        "authenticates the pages' session cookie",
    )
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
    limits: EdgeLimits = Field(
        default_factory=EdgeLimits,
        description="body sizes and rate limits at the HTTP edge (docs/api.md, Limits)",
    )
    bind_host: str = Field(default="127.0.0.1", description="address `nexus-quota serve` binds")
    bind_port: int = Field(default=DEFAULT_PORT, description="port `nexus-quota serve` binds")
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
        description="database connections each process keeps open; keep processes x replicas "
        "x (size + overflow) x 2 engines under PostgreSQL's max_connections",
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
    storage_root: Path = Field(
        default=Path("./.state/homes"), description="where the homes are mounted (EFS)"
    )
    scratch_root: Path | None = Field(
        default=None, description="where scratch is mounted; unset: no scratch is scanned"
    )
    storage_state_dir: Path = Field(
        default=DEFAULT_STATE_DIR,
        validation_alias=_env("storage_state_dir", "NEXUS_STORAGE_STATE_DIR"),
        description="the purge pipeline's manifests, journals and restore status "
        "(docs/storage.md); the storage commands' --state-dir overrides it",
    )
    storage_shards: int = Field(
        default=1,
        ge=1,
        le=1000,
        description="shards of the storage root that `scan` and `purge plan` split into (the "
        "Indexed Jobs' completions); each run's --shard-count defaults to it",
    )
    scan_threads: int = Field(
        default=1,
        ge=1,
        le=256,
        validation_alias=_env("scan_threads", "NEXUS_SCAN_THREADS"),
        description="directories `scan` measures at once on threads of one process (for EFS, "
        "where each stat waits on the server; the chart's jobs.scan.threads); --threads "
        "overrides it",
    )
    archive: ArchiveSettings = Field(
        default_factory=ArchiveSettings, description="archives of homes (S3)"
    )
    smtp: SmtpSettings = Field(default_factory=SmtpSettings, description="e-mail of notices")
    reconcile: ReconcileSettings = Field(
        default_factory=ReconcileSettings, description="thresholds of `nexus-quota reconcile`"
    )
    fail_on_stale_schema: bool = Field(
        default=True, description="refuse to start unless the database schema is current"
    )
    spawn_reservation_hours: float = Field(
        default=1.0, ge=0, description="CPU-hours of wall time an open session holds back"
    )
    cost_per_cpu_hour_usd: float = Field(
        default=0.05, ge=0, description="estimated cost of a CPU-hour, in reports"
    )
    admin_groups: list[str] = Field(
        default_factory=list,
        description="informational only: quota admin rights come from the token's "
        f"{SCOPE_ADMIN} scope (the hub's quota-admin role), never from a group",
    )
    restore_on_login: bool = Field(
        default=True, description="restore an archived home when its owner starts a server"
    )
    teams: TeamSettings = Field(
        default_factory=TeamSettings, description="team folders: uid and gid ranges, root"
    )

    @field_validator("hub_api_token", "jobs_token", mode="before")
    @classmethod
    def _empty_token(cls, value: Any) -> Any:
        # An empty token is no token, as before the settings read it.
        return None if value == "" else value

    @field_validator("storage_state_dir", mode="before")
    @classmethod
    def _empty_state_dir(cls, value: Any) -> Any:
        return DEFAULT_STATE_DIR if value == "" else value

    @property
    def prefix(self) -> str:
        """`base_path` with one leading and one trailing slash: `/services/quota/`."""
        return "/" + self.base_path.strip("/") + "/"

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.bind_host not in ("127.0.0.1", "::1", "localhost")

    @property
    def teams_root(self) -> Path:
        """Where the team folders are: `teams.root`, else `teams` beside `storage_root`."""
        return self.teams.root or self.storage_root.parent / "teams"

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
        sources = [init_settings, _Environment(settings_cls, jupyterhub=False)]
        config_file = os.environ.get(CONFIG_ENV)
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        sources.append(_Environment(settings_cls, jupyterhub=True))
        return tuple(sources)


class _Environment(EnvSettingsSource):
    """The environment, split in two: JupyterHub's `JUPYTERHUB_*` variables rank below the
    YAML file, everything else above it; an empty `JUPYTERHUB_*` variable counts as unset."""

    def __init__(self, settings_cls: type[BaseSettings], *, jupyterhub: bool) -> None:
        super().__init__(settings_cls, env_ignore_empty=jupyterhub)
        self.env_vars = {
            name: value
            for name, value in self.env_vars.items()
            if name.startswith("jupyterhub_") == jupyterhub
        }


def _alias_names() -> dict[str, str]:
    """Environment names that are not YAML keys, each with the key it sets."""
    names = {}
    for field, info in Settings.model_fields.items():
        if isinstance(info.validation_alias, AliasChoices):
            for choice in info.validation_alias.choices:
                names[str(choice).lower()] = field
    return names


def _check_file(config_file: str) -> None:
    try:
        data = yaml.safe_load(Path(config_file).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {CONFIG_ENV}={config_file}: {exc}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{config_file}: expected a mapping of settings")
    for secret in SECRET_FIELDS:
        if data and secret in data:
            raise ConfigError(
                f"{config_file}: {secret!r} is a secret; set {ENV_PREFIX}{secret.upper()} "
                "in the environment instead"
            )
    aliases = _alias_names()
    for key in data or {}:
        if str(key).lower() in aliases and key not in Settings.model_fields:
            raise ConfigError(
                f"{config_file}: {key!r} is the name of an environment variable; the file's "
                f"key is {aliases[str(key).lower()]!r}"
            )


def load_settings(**overrides: Any) -> Settings:
    """Load settings, turning validation errors into one readable ConfigError."""
    config_file = os.environ.get(CONFIG_ENV)
    if config_file:
        _check_file(config_file)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(
            format_validation_error(exc, "invalid quota service settings:", whole="(settings)")
        ) from None


__all__ = [
    "DEFAULT_STATE_DIR",
    "SECRET_FIELDS",
    "ArchiveSettings",
    "ConfigError",
    "EdgeLimits",
    "PoolLimits",
    "RateSetting",
    "ReconcileSettings",
    "Settings",
    "SmtpSettings",
    "TeamSettings",
    "load_settings",
]
