"""Hub settings: environment variables (`NEXUS_*`) over z2jh `custom.nexus` values.

Secrets (`NEXUS_OIDC_CLIENT_SECRET`, `NEXUS_QUOTA_HOOK_TOKEN`, `NEXUS_QUOTA_SERVICE_TOKEN`,
`NEXUS_QUOTA_JOBS_TOKEN`) are read from the environment only: putting one into the z2jh
`custom.nexus` values is an error. docs/hub.md lists every setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from .validation import format_validation_error

CsvList = Annotated[list[str], NoDecode]

GIB = 1024**3

SECRET_FIELDS = frozenset(
    {"oidc_client_secret", "quota_hook_token", "quota_service_token", "quota_jobs_token"}
)


class SettingsError(ValueError):
    """The hub settings are invalid; the message names the bad key."""


class TolerationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class FallbackSize(BaseModel):
    """The size offered when the quota service cannot be reached and the fail mode is open."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "small"
    display_name: str = "Small"
    description: str = "2 CPU, 8 GiB RAM"
    cpu_limit: float = 2.0
    cpu_guarantee: float = 0.5
    mem_limit_bytes: int = 8 * GIB
    mem_guarantee_bytes: int = 6 * GIB
    node_selector: dict[str, str] = Field(default_factory=lambda: {"nexus.roman/size": "small"})
    tolerations: list[TolerationSpec] = Field(default_factory=list)
    idle_cull_hours: float = 1.0
    max_session_hours: float = 24.0


class HubSettings(BaseSettings):
    """Every hub-side setting; env `NEXUS_<NAME>` or z2jh `custom.nexus.<name>`."""

    model_config = SettingsConfigDict(
        env_prefix="NEXUS_",
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
    )

    # --- login (MyST OIDC) ---
    oidc_issuer: str | None = Field(
        default=None, description="issuer URL; endpoints come from its discovery document"
    )
    oidc_authorize_url: str | None = None
    oidc_token_url: str | None = None
    oidc_userinfo_url: str | None = None
    oidc_client_id: str = "roman-nexus-hub"
    oidc_client_secret: SecretStr | None = None
    oidc_scopes: CsvList = Field(default_factory=lambda: ["openid", "profile", "email"])
    oidc_username_claim: str = Field(
        default="preferred_username",
        description="names a person at their first sign-in; bound to oidc_subject_claim after",
    )
    oidc_subject_claim: str = Field(
        default="sub", description="the stable claim that identifies a MyST account"
    )
    oidc_display_name_claim: str = "name"
    oidc_groups_claim: str = "groups"
    oidc_admin_claim: str = Field(
        default="",
        description="a claim only the identity provider's administrators set (dotted path); "
        "the admin_groups it lists make hub admins. Empty: no group makes an admin",
    )
    oidc_login_service: str = "MyST"
    oidc_callback_url: str | None = Field(
        default=None, description="full OAuth callback URL; derived from the request when unset"
    )
    oidc_discovery_timeout_seconds: float = 10.0
    allowed_groups: CsvList = Field(
        default_factory=list, description="empty: anyone with a MyST account may sign in"
    )
    admin_groups: CsvList = Field(
        default_factory=list,
        description="hub groups of admins, granted only through oidc_admin_claim, never "
        "taken from the groups claim",
    )
    admin_users: CsvList = Field(default_factory=list)

    # --- quota service ---
    quota_url: str = "http://127.0.0.1:10101/services/quota/"
    quota_public_path: str = "/services/quota/"
    quota_hook_token: SecretStr | None = None
    quota_service_token: SecretStr | None = None
    quota_jobs_token: SecretStr | None = None
    quota_fail_mode: Literal["open", "closed"] = "closed"
    quota_timeout_seconds: float = 5.0
    restore_timeout_seconds: float = Field(
        default=300.0,
        gt=0,
        description="how long a spawn waits for the restore of an archived home, outside the "
        "decision's timeout; then the server starts and the restore carries on",
    )
    quota_managed: bool = Field(
        default=False, description="local only: the hub starts the quota service itself"
    )
    quota_command: list[str] = Field(
        default_factory=lambda: ["nexus-quota", "serve"],
        description="command of the hub-managed quota service",
    )
    quota_environment: dict[str, str] = Field(default_factory=dict)
    fallback_size: FallbackSize = Field(default_factory=FallbackSize)

    # --- idle culling (local; in z2jh the chart's cull.* values run the culler) ---
    cull_enabled: bool = True
    cull_timeout_seconds: int = 8 * 3600
    cull_every_seconds: int = 300

    # --- local hub (jupyterhub_config.py only; in z2jh the chart sets these) ---
    bind_url: str = "http://127.0.0.1:8000"
    hub_bind_url: str = "http://127.0.0.1:8081"
    proxy_api_url: str = "http://127.0.0.1:8001"
    hub_db_url: str | None = Field(default=None, description="default: <state_dir>/hub/...")
    singleuser_cmd: list[str] = Field(
        default_factory=list, description="local single-user server command; default on PATH"
    )
    spawner_start_timeout: int = 60

    # --- storage, local ---
    state_dir: Path = Path(".state")
    homes_dir: Path | None = None
    scratch_dir: Path | None = None
    tutorials_dir: Path | None = Field(
        default=None, description="tutorial notebooks to offer read-only; none when unset"
    )

    # --- storage, Kubernetes ---
    # A person's directories are <subdir>/<hub_config.userdirs.directory_name(username)> on the
    # claim, the same names the storage jobs use; the hook writes them as literal subPaths.
    home_pvc_name: str = "nexus-home"
    home_subdir: str = Field(default="home", description="folder of the homes on the claim")
    home_mount_path: str = "/home/jovyan"
    scratch_pvc_name: str | None = None
    scratch_subdir: str = Field(default="scratch", description="folder of scratch on the claim")
    scratch_mount_path: str = "/home/jovyan/scratch"

    @field_validator("oidc_scopes", "allowed_groups", "admin_groups", "admin_users", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        """Environment values are comma-separated; custom values may be lists."""
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("home_subdir", "scratch_subdir")
    @classmethod
    def _relative_folder(cls, value: str) -> str:
        parts = value.split("/")
        if not value or value.startswith("/") or any(p in {"", ".", ".."} for p in parts):
            raise ValueError("must be a relative folder on the claim, without '.' or '..'")
        return value

    @model_validator(mode="after")
    def _oidc_endpoints(self) -> HubSettings:
        explicit = [self.oidc_authorize_url, self.oidc_token_url, self.oidc_userinfo_url]
        if any(explicit) and not all(explicit):
            raise ValueError(
                "set all of oidc_authorize_url, oidc_token_url and oidc_userinfo_url, "
                "or none of them and oidc_issuer"
            )
        return self

    @property
    def local_homes(self) -> Path:
        return (self.homes_dir or self.state_dir / "homes").resolve()

    @property
    def local_scratch(self) -> Path:
        return (self.scratch_dir or self.state_dir / "scratch").resolve()

    @property
    def local_tutorials_copy(self) -> Path:
        return (self.state_dir / "tutorials-ro").resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over values passed in (the z2jh custom values).
        return (env_settings, init_settings)


def load_settings(custom: dict[str, Any] | None = None) -> HubSettings:
    """Load settings from the environment over `custom` (z2jh `custom.nexus`) values."""
    custom = dict(custom or {})
    secrets = sorted(SECRET_FIELDS & {k.lower() for k in custom})
    if secrets:
        raise SettingsError(
            "secrets must come from the environment, not from custom.nexus values: "
            + ", ".join(f"{s} (set NEXUS_{s.upper()})" for s in secrets)
        )
    try:
        return HubSettings(**custom)
    except ValidationError as exc:
        raise SettingsError(
            format_validation_error(exc, "invalid hub settings:", whole="(settings)")
        ) from None


__all__ = [
    "GIB",
    "FallbackSize",
    "HubSettings",
    "SettingsError",
    "TolerationSpec",
    "load_settings",
]
