"""`helm lint --strict`, with Helm's own engine, for the defaults and every ci/ values file,
for each Kubernetes version EKS runs (1.32 to 1.35)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import pytest

from tests.chart.chartlib import CHART_DIR, CI_FILES, NAMESPACE, load_yaml

pytestmark = pytest.mark.chart

# `make chart-dependency` (a test prerequisite) puts the dependency in charts/; were it missing,
# that would be the one finding lint reports, and test_the_dependency_is_... fails instead.
MISSING_DEPENDENCY = "chart directory is missing these dependencies: jupyterhub"
WARNING = 2


def _findings(report: dict[str, Any]) -> list[str]:
    return [
        f"{m['path']}: {m['error']}"
        for m in report["messages"]
        if m["severity"] >= WARNING and m["error"] != MISSING_DEPENDENCY
    ]


def _lint(values: dict[str, Any] | None, kube_version: str) -> dict[str, Any]:
    return helm_python.lint(
        CHART_DIR, values, strict=True, namespace=NAMESPACE, kube_version=kube_version
    )


@pytest.mark.parametrize("kube_version", ["v1.32.0", "v1.33.0", "v1.34.0", "v1.35.0"])
@pytest.mark.parametrize(
    "values_file", [None, *CI_FILES], ids=lambda p: getattr(p, "name", "defaults")
)
def test_strict_lint_has_no_findings(values_file: Path | None, kube_version: str) -> None:
    values = load_yaml(values_file) if values_file else None
    report = _lint(values, kube_version)
    assert report["total_charts_linted"] == 1
    assert _findings(report) == []
    assert [e for e in report["errors"] if e != MISSING_DEPENDENCY] == []


def test_lint_reports_a_value_outside_the_schema() -> None:
    # The same lint must fail on a typo: values.schema.json forbids unknown keys.
    report = _lint({"quota": {"replicaz": 2}}, "v1.34.0")
    assert any("replicaz" in f for f in _findings(report)), report


def test_lint_reports_a_single_replica() -> None:
    report = _lint({"quota": {"replicas": 1}}, "v1.34.0")
    assert any("replicas" in f for f in _findings(report)), report


def test_the_dependency_is_jupyterhub_4_4_0_from_the_jupyterhub_repository() -> None:
    with helm_python.Chart.load(CHART_DIR) as chart:
        deps = chart.metadata["dependencies"]
    assert deps == [
        {
            "name": "jupyterhub",
            "version": "4.4.0",
            "repository": "https://hub.jupyter.org/helm-chart/",
            "condition": "jupyterhub.enabled",
        }
    ]
    statuses = {d["name"]: d["status"] for d in helm_python.dependency_list(CHART_DIR)}
    assert set(statuses) == {"jupyterhub"}
    assert statuses["jupyterhub"] == "ok", "run `make chart-dependency`"
