"""values.schema.yaml is the source of values.schema.json and of docs/chart.md's values table:
both generated files are fresh, the JSON holds no references, and the generator's rules hold."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import jsonschema  # type: ignore[import-untyped]
import pytest

from tests.chart.chartlib import CHART_DIR, REPO_ROOT, merged_values

pytestmark = pytest.mark.chart

GENERATOR = REPO_ROOT / "helm" / "tools" / "chart_schema.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chart_schema", GENERATOR)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _generator()


def test_generated_files_are_fresh() -> None:
    stale = [str(path.relative_to(REPO_ROOT)) for path in gen.stale()]
    assert not stale, f"stale, run `make chart-schema`: {stale}"


def test_check_mode_reports_a_stale_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    copy = tmp_path / "values.schema.json"
    copy.write_text(
        (CHART_DIR / "values.schema.json").read_text().replace('"minimum": 2', '"minimum": 1')
    )
    monkeypatch.setattr(gen, "SCHEMA_JSON", copy)
    assert gen.main(["--check"]) == 1
    assert "values.schema.json is stale" in capsys.readouterr().err


def test_json_has_no_references_and_is_a_draft7_schema() -> None:
    text = (CHART_DIR / "values.schema.json").read_text()
    assert "$ref" not in text and "$defs" not in text
    schema = json.loads(text)
    jsonschema.Draft7Validator.check_schema(schema)
    # The chart's defaults, with what an operator must set, validate.
    values = merged_values({"secrets": {"databaseUrl": "postgresql://u:p@db:5432/nexus"}})
    jsonschema.Draft7Validator(schema).validate(values)


def test_every_definition_is_used() -> None:
    source = gen.load_source()
    text = (CHART_DIR / "values.schema.yaml").read_text()
    unused = [name for name in source["$defs"] if f'"#/$defs/{name}"' not in text]
    assert not unused


def test_keys_beside_a_ref_extend_the_definition() -> None:
    source = {
        "$defs": {
            "a": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}
        },
        "properties": {
            "p": {"$ref": "#/$defs/a", "properties": {"y": {"type": "integer"}}, "required": ["y"]}
        },
    }
    assert gen.json_schema(source) == {
        "properties": {
            "p": {
                "type": "object",
                "properties": {"x": {"type": "string"}, "y": {"type": "integer"}},
                "required": ["y"],
            }
        }
    }
    with pytest.raises(ValueError, match="not defined"):
        gen.json_schema({"properties": {"p": {"$ref": "#/$defs/missing"}}})


def test_docs_rows_come_from_descriptions_at_their_use() -> None:
    """A description written in `$defs` describes the definition, not each use of it."""
    table = gen.docs_table(gen.load_source(), {"jobs": {"scan": {"enabled": True}}})
    assert "| `jobs.scan` | `{enabled: true}` |" in table
    assert "`jobs.scan.schedule`" not in table  # described in $defs.cronJob only
    assert "| `global` | — |" in table
