"""Generate the chart's values.schema.json and the values table of docs/chart.md from
helm/roman-nexus/values.schema.yaml.

    python helm/tools/chart_schema.py           # rewrite both files
    python helm/tools/chart_schema.py --check   # exit 1, naming them, when either is stale

`make chart-schema` runs the first; tests/chart/test_schema_source.py the second's logic.
The YAML's `$defs` are inlined: `{$ref: "#/$defs/x", ...}` becomes definition x, extended by the
keys beside the `$ref` (mappings merge key by key with the definition's keys first; any other
value replaces the definition's). The JSON Helm validates with holds no `$ref` and no `$defs`.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "helm" / "roman-nexus"
SOURCE = CHART_DIR / "values.schema.yaml"
SCHEMA_JSON = CHART_DIR / "values.schema.json"
VALUES = CHART_DIR / "values.yaml"
DOCS = ROOT / "docs" / "chart.md"

DEFS_PREFIX = "#/$defs/"
BEGIN = (
    "<!-- BEGIN generated values table: edit helm/roman-nexus/values.schema.yaml, "
    "then run `make chart-schema` -->"
)
END = "<!-- END generated values table -->"
# A default longer than this is shown as "see values.yaml".
MAX_DEFAULT = 90


def load_source(path: Path = SOURCE) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


def _extend(base: Any, extra: Any) -> Any:
    """`base` extended by `extra`: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(extra, dict):
        merged = dict(base)
        for key, value in extra.items():
            merged[key] = _extend(merged[key], value) if key in merged else value
        return merged
    return extra


def _inline(node: Any, defs: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith(DEFS_PREFIX):
            raise ValueError(f"only {DEFS_PREFIX}<name> references are supported, not {ref!r}")
        name = ref.removeprefix(DEFS_PREFIX)
        if name not in defs:
            raise ValueError(f"{ref} is not defined in $defs")
        if name in seen:
            raise ValueError(f"{ref} refers to itself")
        base = _inline(copy.deepcopy(defs[name]), defs, (*seen, name))
        extra = {key: value for key, value in node.items() if key != "$ref"}
        return _extend(base, _inline(extra, defs, seen))
    return {key: _inline(value, defs, seen) for key, value in node.items() if key != "$defs"}


def json_schema(source: dict[str, Any]) -> dict[str, Any]:
    """The schema Helm validates with: `$defs` inlined and dropped."""
    inlined = _inline(source, source.get("$defs", {}))
    assert isinstance(inlined, dict)
    return inlined


def render_json(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2) + "\n"


def _lookup(values: Any, path: tuple[str, ...]) -> tuple[bool, Any]:
    for key in path:
        if not isinstance(values, dict) or key not in values:
            return False, None
        values = values[key]
    return True, values


def _default_text(found: bool, value: Any) -> str:
    if not found:
        return "—"
    if isinstance(value, str):
        text = json.dumps(value) if value == "" else value
    else:
        text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()
        text = text.removesuffix("\n...").strip()
    if len(text) > MAX_DEFAULT:
        return "see values.yaml"
    return f"`{text}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _rows(
    node: dict[str, Any], values: dict[str, Any], path: tuple[str, ...]
) -> list[tuple[str, str, str]]:
    """One row per property that carries its own `description` in the source (one written in
    `$defs` describes the definition, not each use of it), depth first, in source order."""
    rows: list[tuple[str, str, str]] = []
    for key, child in node.get("properties", {}).items():
        if not isinstance(child, dict):
            continue
        here = (*path, key)
        if "description" in child:
            default = _default_text(*_lookup(values, here))
            rows.append((".".join(here), default, str(child["description"])))
        rows.extend(_rows(child, values, here))
    return rows


def docs_table(source: dict[str, Any], values: dict[str, Any]) -> str:
    lines = [BEGIN, "", "| key | default | meaning |", "|---|---|---|"]
    for key, default, meaning in _rows(source, values, ()):
        lines.append(f"| `{key}` | {_cell(default)} | {_cell(meaning)} |")
    lines += ["", END]
    return "\n".join(lines)


def replace_table(docs: str, table: str) -> str:
    start, end = docs.find(BEGIN), docs.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{DOCS} has no generated section ({BEGIN} … {END})")
    return docs[:start] + table + docs[end + len(END) :]


def generated() -> dict[Path, str]:
    """What each generated file must contain."""
    source = load_source()
    values = yaml.safe_load(VALUES.read_text())
    return {
        SCHEMA_JSON: render_json(json_schema(source)),
        DOCS: replace_table(DOCS.read_text(), docs_table(source, values)),
    }


def stale() -> list[Path]:
    return [path for path, text in generated().items() if path.read_text() != text]


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    if args.check:
        old = stale()
        for path in old:
            print(f"{_shown(path)} is stale: run `make chart-schema`", file=sys.stderr)
        return 1 if old else 0
    for path, text in generated().items():
        if path.read_text() != text:
            path.write_text(text)
            print(f"wrote {_shown(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
