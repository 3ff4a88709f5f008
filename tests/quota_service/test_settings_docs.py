"""The settings tables of docs/quota-service.md and docs/hub.md are generated from the models
(quota_service/settings_docs.py): both are fresh, and every setting carries a description."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from hub_config.settings import HubSettings
from quota_service import settings_docs as gen
from quota_service.config import Settings


def test_the_tables_are_fresh() -> None:
    stale = [str(path.relative_to(gen.ROOT)) for path in gen.stale()]
    assert not stale, f"stale, run `make settings-docs`: {stale}"


@pytest.mark.parametrize("model", [Settings, HubSettings])
def test_every_setting_has_a_description(model: type[BaseModel]) -> None:
    assert gen.undescribed(model) == []


def test_a_setting_without_a_description_is_found() -> None:
    class Inner(BaseModel):
        bare: int = 1

    class Outer(BaseModel):
        told: int = Field(default=1, description="said")
        inner: Inner = Field(default_factory=Inner, description="a section")

    assert gen.undescribed(Outer) == ["inner.bare"]


def test_check_mode_reports_a_stale_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "hub.md"
    copy.write_text(gen.HUB_DOCS.read_text().replace("| `NEXUS_OIDC_ISSUER` |", "| `X` |"))
    tables = tuple(
        dataclasses.replace(t, docs=copy) if t.docs == gen.HUB_DOCS else t for t in gen.TABLES
    )
    monkeypatch.setattr(gen, "TABLES", tables)
    assert gen.main(["--check"]) == 1
    assert "hub.md is stale" in capsys.readouterr().err


def test_rows_name_every_environment_variable_and_hide_secrets_from_the_file() -> None:
    quota = {row.key or row.env[0]: row for row in gen.rows(gen.TABLES[0])}
    assert quota["base_path"].env == ("NEXUS_QUOTA_BASE_PATH", "JUPYTERHUB_SERVICE_PREFIX")
    assert quota["storage_state_dir"].env[-1] == "NEXUS_STORAGE_STATE_DIR"
    assert quota["smtp.host"].env == ("NEXUS_QUOTA_SMTP__HOST",)
    assert quota["limits.per_client.burst"].default == "`200`"
    assert quota["NEXUS_QUOTA_JOBS_TOKEN"].key is None  # a secret: no file key
    hub = {row.key or row.env[0]: row for row in gen.rows(gen.TABLES[1])}
    assert hub["fallback_size.cpu_limit"].env == ("NEXUS_FALLBACK_SIZE__CPU_LIMIT",)
    assert hub["NEXUS_QUOTA_HOOK_TOKEN"].key is None
