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

from .names import QUOTA_PREFIX, QUOTA_URL
from .validation import format_validation_error

CsvList = Annotated[list[str], NoDecode]

GIB = 1024**3

SECRET_FIELDS = frozenset(
    {"oidc_client_secret", "quota_hook_token", "quota_service_token", "quota_jobs_token"}
)


class SettingsError(ValueError):
    """The hub settings are invalid; the message names the bad key."""


class TolerationSpec(BaseModel):
    """A Kubernetes toleration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(description="the taint's key")
    operator: Literal["Equal", "Exists"] = Field(default="Equal", description="how to match")
    value: str | None = Field(default=None, description="the taint's value (Equal)")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="the taint's effect; unset: any"
    )


class FallbackSize(BaseModel):
    """The size offered when the quota service cannot be reached and the fail mode is open."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="small", description="the size's name (the policy's)")
    display_name: str = Field(default="Small", description="shown on the spawn page")
    description: str = Field(default="2 CPU, 8 GiB RAM", description="shown under the name")
    cpu_limit: float = Field(default=2.0, description="CPU limit")
    cpu_guarantee: float = Field(default=0.5, description="CPU guarantee")
    mem_limit_bytes: int = Field(default=8 * GIB, description="memory limit, bytes")
    mem_guarantee_bytes: int = Field(default=6 * GIB, description="memory guarantee, bytes")
    node_selector: dict[str, str] = Field(
        default_factory=lambda: {"nexus.roman/size": "small"},
        description="node selector of the size's pods",
    )
    tolerations: list[TolerationSpec] = Field(
        default_factory=list, description="tolerations of the size's pods"
    )
    idle_cull_hours: float = Field(default=1.0, description="idle time before the cull")
    max_session_hours: float = Field(default=24.0, description="longest session")


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
    oidc_authorize_url: str | None = Field(
        default=None,
        description="explicit authorization endpoint (all three explicit URLs, or none); "
        "wins over discovery",
    )
    oidc_token_url: str | None = Field(default=None, description="explicit token endpoint")
    oidc_userinfo_url: str | None = Field(default=None, description="explicit userinfo endpoint")
    oidc_client_id: str = Field(default="roman-nexus-hub", description="the MyST client id")
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="**secret**, env only: the MyST client secret"
    )
    oidc_scopes: CsvList = Field(
        default_factory=lambda: ["openid", "profile", "email"], description="scopes asked for"
    )
    oidc_username_claim: str = Field(
        default="preferred_username",
        description="names a person at their first sign-in; bound to oidc_subject_claim after",
    )
    oidc_subject_claim: str = Field(
        default="sub", description="the stable claim that identifies a MyST account"
    )
    oidc_display_name_claim: str = Field(
        default="name", description="shown to people, kept in auth_state.display_name"
    )
    oidc_groups_claim: str = Field(default="groups", description="claim that becomes hub groups")
    oidc_admin_claim: str = Field(
        default="",
        description="a claim only the identity provider's administrators set (dotted path); "
        "the admin_groups it lists make hub admins. Empty: no group makes an admin",
    )
    oidc_login_service: str = Field(default="MyST", description="name on the login button")
    oidc_callback_url: str | None = Field(
        default=None,
        description="full OAuth callback URL; in z2jh https://<ingress.hosts[0]><hub.baseUrl>hub/"
        "oauth_callback (hub_config/z2jh.py), locally derived from the request when unset",
    )
    oidc_discovery_timeout_seconds: float = Field(
        default=10.0, description="per attempt to read the discovery document (5 attempts)"
    )
    allowed_groups: CsvList = Field(
        default_factory=list,
        description="groups allowed to sign in; empty: anyone with a MyST account may",
    )
    admin_groups: CsvList = Field(
        default_factory=list,
        description="hub groups of admins, granted only through oidc_admin_claim, never "
        "taken from the groups claim",
    )
    admin_users: CsvList = Field(default_factory=list, description="usernames of hub admins")

    # --- quota service ---
    quota_url: str = Field(
        default=QUOTA_URL,
        description="the quota service as the hub reaches it, ending in its service prefix",
    )
    quota_public_path: str = Field(
        default=QUOTA_PREFIX,
        description="the quota service as browsers reach it (NEXUS_QUOTA_URL in servers)",
    )
    quota_hook_token: SecretStr | None = Field(
        default=None,
        description="**secret**, env only: the quota-hub-hook service's token "
        "(scope custom:nexus-quota:spawn)",
    )
    quota_service_token: SecretStr | None = Field(
        default=None,
        description="**secret**, env only: the quota service's own hub token (registered "
        "locally; z2jh sets it in hub.services)",
    )
    quota_jobs_token: SecretStr | None = Field(
        default=None,
        description="**secret**, env only: the quota-jobs service's token (registered locally)",
    )
    quota_fail_mode: Literal["open", "closed"] = Field(
        default="closed",
        description="what a spawn does when the quota service is unreachable: open starts "
        "the fallback size (logged, counted in nexus_quota_unreachable_total), closed refuses "
        "with a clear message",
    )
    quota_timeout_seconds: float = Field(
        default=5.0, description="seconds to wait for the quota service per request"
    )
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
    quota_environment: dict[str, str] = Field(
        default_factory=dict,
        description="extra environment of the hub-managed quota service "
        "(e.g. NEXUS_QUOTA_DATABASE_URL)",
    )
    fallback_size: FallbackSize = Field(
        default_factory=FallbackSize,
        description="the size a spawn gets when the fail mode is open (Entry's small)",
    )

    # --- idle culling (local; in z2jh the chart's cull.* values run the culler) ---
    cull_enabled: bool = Field(
        default=True, description="local only: run jupyterhub-idle-culler as a hub service"
    )
    cull_timeout_seconds: int = Field(
        default=8 * 3600, description="the culler's timeout: the longest tier idle time"
    )
    cull_every_seconds: int = Field(default=300, description="how often the culler checks")

    # --- local hub (jupyterhub_config.py only; in z2jh the chart sets these) ---
    bind_url: str = Field(
        default="http://127.0.0.1:8000", description="local only: the public URL (the proxy)"
    )
    hub_bind_url: str = Field(
        default="http://127.0.0.1:8081", description="local only: where the hub listens"
    )
    proxy_api_url: str = Field(
        default="http://127.0.0.1:8001", description="local only: the proxy's API"
    )
    hub_db_url: str | None = Field(
        default=None,
        description="local only: the hub's database; default sqlite:///<state_dir>/hub/"
        "jupyterhub.sqlite",
    )
    singleuser_cmd: list[str] = Field(
        default_factory=list,
        description="local only: the lab server command (a JSON list); default "
        "jupyterhub-singleuser on PATH",
    )
    spawner_start_timeout: int = Field(
        default=60, description="local only: start and HTTP timeouts of a spawn, seconds"
    )
    spawner_ready_poll_seconds: float = Field(
        default=0.1,
        ge=0,
        le=5,
        description="how often a starting server is checked inside the spawner's start, so the "
        "hub sees it as soon as it answers (hub_config/readiness.py; its own back-off waits up "
        "to 5 s); 0: off, the hub's back-off alone",
    )
    # At N people (docs/performance.md); in z2jh the chart's hub.concurrentSpawnLimit and
    # hub.config.JupyterHub.activity_resolution hold the same values.
    concurrent_spawn_limit: int = Field(
        default=200,
        ge=1,
        description="local only: spawns pending at once before the hub answers 429 "
        "(JupyterHub's concurrent_spawn_limit, default 100; z2jh's 64)",
    )
    activity_resolution_seconds: int = Field(
        default=60,
        ge=1,
        description="local only: activity newer than the stored one by less than this is not "
        "written to the hub's database (JupyterHub's activity_resolution, default 30)",
    )

    # --- storage, local ---
    state_dir: Path = Field(
        default=Path(".state"),
        description="local only: where homes, scratch and the hub's files live",
    )
    homes_dir: Path | None = Field(
        default=None, description="local only: homes (stand-in for EFS); default <state_dir>/homes"
    )
    scratch_dir: Path | None = Field(
        default=None, description="local only: scratch; default <state_dir>/scratch"
    )
    tutorials_dir: Path | None = Field(
        default=None,
        description="local only: tutorial notebooks to offer read-only (e.g. notebooks/); none "
        "when unset",
    )
    teams_dir: Path | None = Field(
        default=None,
        description="local only: the team folders (`nexus-quota teams sync` makes them); "
        "default <state_dir>/teams; each home gets teams/<team_dir> links to the person's teams",
    )

    # --- storage, Kubernetes ---
    # A person's directories are <subdir>/<hub_config.userdirs.directory_name(username)> on the
    # claim, the same names the storage jobs use; the hook writes them as literal subPaths.
    home_pvc_name: str = Field(default="nexus-home", description="Kubernetes: the EFS claim")
    home_subdir: str = Field(
        default="home",
        description="Kubernetes: folder of the homes on the claim (= the chart's efs.homeDir)",
    )
    home_mount_path: str = Field(
        default="/home/jovyan", description="Kubernetes: where the home is mounted"
    )
    scratch_pvc_name: str | None = Field(
        default=None, description="Kubernetes: the claim of scratch; unset: the home's"
    )
    scratch_subdir: str = Field(
        default="scratch",
        description="Kubernetes: folder of scratch on the claim (= efs.scratchDir)",
    )
    scratch_mount_path: str = Field(
        default="/home/jovyan/scratch", description="Kubernetes: where scratch is mounted"
    )
    tutorials_subdir: str | None = Field(
        default=None,
        description="Kubernetes: folder on the claim of the published tutorials (= the chart's "
        "tutorials.efsDir), mounted read-only; none when unset",
    )
    tutorials_mount_path: str = Field(
        default="/opt/nexus/tutorials",
        description="Kubernetes: where they are mounted (the image's ~/tutorials link points here)",
    )
    crds_subdir: str | None = Field(
        default=None,
        description="Kubernetes: folder on the claim of the shared CRDS cache (= the chart's "
        "crdsCache.efsDir), mounted read-only; none when unset",
    )
    crds_mount_path: str = Field(
        default="/crds",
        description="Kubernetes: where it is mounted (the image's CRDS_PATH)",
    )
    # Team folders: a second claim, through an EFS access point WITHOUT a POSIX user, so the
    # pod's own uid and groups reach the file system (docs/deploy.md, "Team folders on EFS").
    teams_pvc_name: str | None = Field(
        default=None,
        description="Kubernetes: the claim of the team folders (= the chart's teams claim); "
        "unset: no team folders, and servers keep the image's uid",
    )
    teams_subdir: str = Field(
        default="teams",
        description="Kubernetes: folder of the team folders on that claim (= efs.teamsDir)",
    )
    teams_mount_path: str = Field(
        default="/teams",
        description="Kubernetes: where each team folder is mounted, as <path>/<team_dir>",
    )
    notebook_gid: int = Field(
        default=100,
        ge=1,
        description="Kubernetes: the primary gid of user servers when team folders are on "
        "(their uid is the person's, from the quota service)",
    )

    @field_validator("oidc_scopes", "allowed_groups", "admin_groups", "admin_users", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        """Environment values are comma-separated; custom values may be lists."""
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator(
        "home_subdir", "scratch_subdir", "tutorials_subdir", "crds_subdir", "teams_subdir"
    )
    @classmethod
    def _relative_folder(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = value.split("/")
        if not value or value.startswith("/") or any(p in {"", ".", ".."} for p in parts):
            raise ValueError("must be a relative folder on the claim, without '.' or '..'")
        return value

    @field_validator("teams_mount_path")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        parts = value.split("/")[1:]
        if not value.startswith("/") or any(p in {"", ".", ".."} for p in parts):
            raise ValueError("must be an absolute path without '.', '..' or a trailing '/'")
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
    def local_teams(self) -> Path:
        return (self.teams_dir or self.state_dir / "teams").resolve()

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
