"""Every ci/ values file renders, z2jh's templates included; every object validates, strict,
for each Kubernetes version EKS runs (1.32 to 1.35)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate
import pytest

from tests.chart.chartlib import CI_FILES, Obj, load_yaml, render, render_ci_file

pytestmark = pytest.mark.chart

KUBE_VERSIONS = ["1.32", "1.33", "1.34", "1.35"]
# What z2jh 4.4.0 renders with our values: kind/name. Absent, the "whole chart" would be ours only.
Z2JH_OBJECTS = {
    "Deployment/hub",
    "Deployment/proxy",
    "Deployment/user-scheduler",
    "DaemonSet/hook-image-puller",
    "DaemonSet/continuous-image-puller",
    "StatefulSet/user-placeholder",
    "PersistentVolumeClaim/hub-db-dir",
    "Ingress/jupyterhub",
    "Secret/hub",
    "ConfigMap/hub",
}

# kubernetes-validate knows the built-in kinds only. The one custom resource the chart can
# render is the Prometheus operator's ServiceMonitor; it is checked against this schema of the
# fields the chart writes (written here from the operator's API reference), strict too.
_STR = {"type": "string"}
_LABELS = {"type": "object", "additionalProperties": _STR}
SERVICE_MONITOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {"name": _STR, "labels": _LABELS, "annotations": _LABELS},
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchLabels": _LABELS},
                },
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchNames": {"type": "array", "items": _STR}},
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port"],
                        "properties": {
                            "port": _STR,
                            "path": _STR,
                            "interval": {"type": "string", "pattern": r"^\d+[smh]$"},
                            "scrapeTimeout": {"type": "string", "pattern": r"^\d+[smh]$"},
                        },
                    },
                },
            },
        },
    },
}
CUSTOM_SCHEMAS = {("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR_SCHEMA}


def validate_object(obj: Obj, version: str) -> None:
    """Validate one object; raise with the object's kind and name on any finding."""
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key in CUSTOM_SCHEMAS:
        jsonschema.validate(obj, CUSTOM_SCHEMAS[key])
        return
    kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("values_file", CI_FILES, ids=lambda p: p.name)
def test_ci_values_file_renders(values_file: Path) -> None:
    objects = render_ci_file(values_file, own_only=True)
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "ConfigMap", "CronJob", "Job", "PersistentVolume"} <= kinds


@pytest.mark.parametrize("values_file", CI_FILES, ids=lambda p: p.name)
def test_the_whole_chart_includes_z2jh_objects(values_file: Path) -> None:
    rendered = {f"{o['kind']}/{o['metadata']['name']}" for o in render_ci_file(values_file)}
    assert Z2JH_OBJECTS <= rendered, sorted(Z2JH_OBJECTS - rendered)


def test_the_validator_has_schemas_of_every_kubernetes_version() -> None:
    # For a version it lacks, kubernetes-validate quietly uses the newest older one it has.
    known = {".".join(v.split(".")[:2]) for v in kubernetes_validate.utils.all_versions()}
    assert set(KUBE_VERSIONS) <= known, sorted(set(KUBE_VERSIONS) - known)


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("values_file", CI_FILES, ids=lambda p: p.name)
def test_every_rendered_object_validates_strict(values_file: Path, version: str) -> None:
    failures = []
    for obj in render_ci_file(values_file):
        try:
            validate_object(obj, version)
        except Exception as exc:  # collect them all, then fail once
            failures.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc}")
    assert failures == []


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_strict_validation_rejects_an_unknown_field(version: str) -> None:
    # The validator is not a rubber stamp: a misspelt field in a real rendered object fails.
    deployment = next(o for o in render_ci_file(CI_FILES[0]) if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_object(deployment, version)


def test_strict_validation_rejects_a_bad_service_monitor() -> None:
    everything = CI_FILES[0].parent / "everything-values.yaml"
    monitor = next(o for o in render_ci_file(everything) if o["kind"] == "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        validate_object(monitor, "1.34")


def test_default_values_alone_refuse_to_render_and_name_what_is_missing() -> None:
    # Production defaults leave the operator's own facts empty; rendering says which.
    with pytest.raises(helm_python.HelmError, match=r"efs\.fileSystemId|secrets\.|issuer"):
        render(None)


def test_schema_rejects_unknown_keys_when_rendering() -> None:
    values = load_yaml(CI_FILES[0])
    values["quota"] = {"replicaz": 3}
    with pytest.raises(helm_python.HelmError, match="replicaz"):
        render(values)
