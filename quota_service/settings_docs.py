"""Generate the settings tables of docs/quota-service.md and docs/hub.md from the models:
the quota service's `Settings` (nested sections too) and the hub's `HubSettings`.

    python -m quota_service.settings_docs           # rewrite both tables
    python -m quota_service.settings_docs --check   # exit 1, naming them, when either is stale

`make settings-docs` runs the first; tests/quota_service/test_settings_docs.py the second's
logic, and checks every setting carries a description. The tables sit between marker comments;
the rest of each document is written by hand.
"""

from __future__ import annotations

import argparse
import enum
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, SecretStr
from pydantic.fields import FieldInfo

from hub_config.names import ENV_PREFIX as HUB_ENV_PREFIX
from hub_config.settings import SECRET_FIELDS as HUB_SECRETS
from hub_config.settings import HubSettings

from .config import SECRET_FIELDS as QUOTA_SECRETS
from .config import Settings
from .names import ENV_PREFIX as QUOTA_ENV_PREFIX

ROOT = Path(__file__).resolve().parents[1]
QUOTA_DOCS = ROOT / "docs" / "quota-service.md"
HUB_DOCS = ROOT / "docs" / "hub.md"
END = "<!-- END generated settings table -->"


def begin(model: type[BaseModel]) -> str:
    return (
        f"<!-- BEGIN generated settings table: edit the descriptions in {model.__module__}."
        f"{model.__name__}, then run `make settings-docs` -->"
    )


@dataclass(frozen=True)
class Row:
    env: tuple[str, ...]
    key: str | None  # None: a secret, from the environment only
    type: str
    default: str
    description: str


@dataclass(frozen=True)
class Table:
    model: type[BaseModel]
    env_prefix: str
    secrets: frozenset[str]
    key_header: str
    docs: Path


TABLES = (
    Table(Settings, QUOTA_ENV_PREFIX, frozenset(QUOTA_SECRETS), "YAML key", QUOTA_DOCS),
    Table(HubSettings, HUB_ENV_PREFIX, HUB_SECRETS, "`custom.nexus` key", HUB_DOCS),
)


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and not getattr(annotation, "__args__", None):
        return annotation.__name__
    text = str(annotation).replace("typing.", "")
    # Dotted module paths (pathlib.Path, pydantic.types.SecretStr) shortened to the name.
    return re.sub(r"\b(?:\w+\.)+(\w+)", r"\1", text)


def _nested(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _default_text(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str | Path):
        return f"`{value}`" if str(value) else '`""`'
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return f"`{json.dumps(value)}`"


def _env_names(info: FieldInfo, name: str, prefix: str) -> tuple[str, ...]:
    if isinstance(info.validation_alias, AliasChoices):
        return tuple(str(choice) for choice in info.validation_alias.choices)
    return (prefix + name.upper(),)


def rows(table: Table) -> Iterator[Row]:
    defaults = table.model.model_construct()
    yield from _rows(table, table.model, defaults, (), table.env_prefix, top=True)


def _rows(
    table: Table,
    model: type[BaseModel],
    values: Any,
    path: tuple[str, ...],
    env_prefix: str,
    *,
    top: bool = False,
) -> Iterator[Row]:
    for name, info in model.model_fields.items():
        here = (*path, name)
        value = getattr(values, name)
        env = _env_names(info, name, env_prefix) if top else (env_prefix + name.upper(),)
        secret = top and name in table.secrets
        nested = _nested(info.annotation)
        yield Row(
            env=env,
            key=None if secret else ".".join(here),
            type=_type_name(info.annotation),
            default="see below" if nested else _default_text(value),
            description=info.description or "",
        )
        if nested is not None:
            yield from _rows(table, nested, value, here, f"{env[0]}__")


def _cell(text: str) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def render(table: Table) -> str:
    lines = [
        begin(table.model),
        "",
        f"| environment | {table.key_header} | type | default | description |",
        "|---|---|---|---|---|",
    ]
    for row in rows(table):
        env = ", ".join(f"`{name}`" for name in row.env)
        key = f"`{row.key}`" if row.key else "— (environment only)"
        lines.append(
            f"| {env} | {key} | {_cell(row.type)} | {_cell(row.default)} "
            f"| {_cell(row.description)} |"
        )
    lines += ["", END]
    return "\n".join(lines)


def replace_table(docs: str, table: Table) -> str:
    start, end = docs.find(begin(table.model)), docs.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{table.docs} has no generated section ({begin(table.model)} … {END})")
    return docs[:start] + render(table) + docs[end + len(END) :]


def undescribed(model: type[BaseModel], path: tuple[str, ...] = ()) -> list[str]:
    """Settings without a description, nested ones too (dotted keys)."""
    missing = []
    for name, info in model.model_fields.items():
        if not (info.description or "").strip():
            missing.append(".".join((*path, name)))
        nested = _nested(info.annotation)
        if nested is not None:
            missing += undescribed(nested, (*path, name))
    return missing


def generated() -> dict[Path, str]:
    return {table.docs: replace_table(table.docs.read_text(), table) for table in TABLES}


def stale() -> list[Path]:
    return [path for path, text in generated().items() if path.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    check = parser.parse_args(argv).check
    status = 0
    for path, text in generated().items():
        if path.read_text() == text:
            continue
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        if check:
            print(f"{shown} is stale: run `make settings-docs`", file=sys.stderr)
            status = 1
        else:
            path.write_text(text)
            print(f"wrote {shown}")
    return status


if __name__ == "__main__":
    sys.exit(main())
