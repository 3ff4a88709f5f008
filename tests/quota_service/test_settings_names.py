"""The names both sides must agree on (service, prefix, port, scopes, environment prefix) are
declared once per package; the two declarations agree, and the packages use them."""

from __future__ import annotations

from pathlib import Path

import pytest

import hub_config.names as hub
import quota_service.names as service
from hub_config.settings import HubSettings
from quota_service.config import Settings

REPO = Path(__file__).resolve().parents[2]


def test_the_two_declarations_agree() -> None:
    assert service.SERVICE_NAME == hub.QUOTA_SERVICE == "quota"
    assert service.SERVICE_PREFIX == hub.QUOTA_PREFIX == "/services/quota/"
    assert service.DEFAULT_PORT == hub.QUOTA_PORT == 10101
    assert service.ENV_PREFIX == hub.QUOTA_ENV_PREFIX == "NEXUS_QUOTA_"
    for scope in ("SCOPE_SPAWN", "SCOPE_JOBS", "SCOPE_ADMIN"):
        assert getattr(service, scope) == getattr(hub, scope)
    assert hub.SCOPE_ADMIN == "custom:nexus-quota:admin"
    assert hub.SCOPE_ACCESS == "access:services!service=quota"


def test_defaults_come_from_the_names() -> None:
    settings = Settings.model_fields
    assert settings["base_path"].default == service.SERVICE_PREFIX
    assert settings["bind_port"].default == service.DEFAULT_PORT
    assert settings["hub_service_name"].default == service.SERVICE_NAME
    hub_settings = HubSettings.model_fields
    assert hub_settings["quota_url"].default == hub.QUOTA_URL
    assert hub_settings["quota_public_path"].default == hub.QUOTA_PREFIX
    assert hub.QUOTA_URL.endswith(f":{service.DEFAULT_PORT}{service.SERVICE_PREFIX}")


SHARED = ('"/services/quota/"', '"custom:nexus-quota:', "10101")


@pytest.mark.parametrize(
    ("package", "literals", "allowed"),
    [
        # The service's environment prefix too; the CLI's --actor option names its own
        # variable (who the audit log records: a command's option, not a setting).
        ("quota_service", (*SHARED, '"NEXUS_QUOTA_'), ('envvar="NEXUS_QUOTA_ACTOR"',)),
        # The hub writes NEXUS_QUOTA_URL and NEXUS_QUOTA_FAIL_OPEN into user servers: the
        # servers' environment (builders.py), not the service's prefix.
        ("hub_config", SHARED, ()),
    ],
)
def test_no_other_module_spells_the_names(
    package: str, literals: tuple[str, ...], allowed: tuple[str, ...]
) -> None:
    """Only the names module spells the prefix, the port and the scopes (docstrings and
    comments may mention them)."""
    found = []
    for path in sorted((REPO / package).rglob("*.py")):
        if path == REPO / package / "names.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if any(lit in code for lit in literals) and not any(a in code for a in allowed):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not found
