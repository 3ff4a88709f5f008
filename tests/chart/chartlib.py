"""Render the umbrella chart with Helm's own engine (helm-python-sdk) and pick objects apart.

`make chart-dependency` puts z2jh's 4.4.0 package into `helm/roman-nexus/charts/` (a test
prerequisite), so Helm renders the whole umbrella chart, z2jh's templates included; `own_only`
picks the umbrella chart's own objects out of that.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "helm" / "roman-nexus"
CI_DIR = CHART_DIR / "ci"
CI_FILES = sorted(CI_DIR.glob("*.yaml"))
RELEASE = "nexus-prod"
OWN_TEMPLATES = "roman-nexus/templates/"
NAMESPACE = "roman-nexus"

# z2jh 4.4.0's scheduling.userPods.tolerations: the chart adds to them, they must stay.
Z2JH_USER_TOLERATIONS = [
    {
        "key": "hub.jupyter.org/dedicated",
        "operator": "Equal",
        "value": "user",
        "effect": "NoSchedule",
    },
    {
        "key": "hub.jupyter.org_dedicated",
        "operator": "Equal",
        "value": "user",
        "effect": "NoSchedule",
    },
]

# The workloads, with their pod templates, that the chart may render.
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}

Obj = dict[str, Any]


def load_yaml(path: Path) -> Obj:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


def ci_values(name: str) -> Obj:
    return load_yaml(CI_DIR / name)


def merged_values(values: Obj | None = None) -> Obj:
    """The chart's defaults coalesced with `values`, as an install would see them."""
    with helm_python.Chart.load(CHART_DIR) as chart:
        return chart.merge_values(copy.deepcopy(values) if values else {})


def render_manifests(
    values: Obj | None = None, *, release: str = RELEASE, namespace: str = NAMESPACE
) -> dict[str, str]:
    with helm_python.Chart.load(CHART_DIR) as chart:
        return chart.render(
            copy.deepcopy(values) if values else {},
            name=release,
            namespace=namespace,
            is_install=True,
        )


def render(
    values: Obj | None = None,
    *,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
    own_only: bool = True,
) -> list[Obj]:
    """The Kubernetes objects the chart renders (NOTES.txt and empty documents left out).

    `own_only` keeps the umbrella chart's own objects and leaves out the jupyterhub subchart's,
    which are rendered too once `charts/jupyterhub-4.4.0.tgz` is present.
    """
    manifests = render_manifests(values, release=release, namespace=namespace)
    objects: list[Obj] = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        if own_only and not path.startswith(OWN_TEMPLATES):
            continue
        for doc in yaml.safe_load_all(text):
            if doc is None:
                continue
            assert isinstance(doc, dict), f"{path} renders a non-object document: {doc!r}"
            objects.append(doc)
    return objects


def by_kind(objects: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_spec(obj: Obj) -> Obj:
    """The pod spec of a workload object."""
    if obj["kind"] == "CronJob":
        spec: Obj = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    else:
        spec = obj["spec"]["template"]["spec"]
    return spec


def workloads(objects: list[Obj]) -> Iterator[tuple[str, Obj]]:
    for obj in objects:
        if obj["kind"] in WORKLOAD_KINDS:
            yield f"{obj['kind']}/{obj['metadata']['name']}", obj


def containers(spec: Obj) -> list[Obj]:
    found: list[Obj] = [*spec.get("initContainers", []), *spec.get("containers", [])]
    return found


def deep_merge(base: Obj, override: Obj) -> Obj:
    """Helm's coalescing of values: mappings merge, a null in `override` deletes the key."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


Z2JH_ARCHIVE = CHART_DIR / "charts" / "jupyterhub-4.4.0.tgz"


@functools.cache
def _rendered_ci_file(path: Path, own_only: bool) -> tuple[Obj, ...]:
    return tuple(render(load_yaml(path), own_only=own_only))


def render_ci_file(path: Path, *, own_only: bool = False) -> list[Obj]:
    """`render` of a ci/ values file, rendered once per test process; callers get a copy.

    The whole chart (own_only=False) needs z2jh's package in `charts/`: without it Helm would
    silently render the umbrella chart's own objects only, so this refuses instead.
    """
    if not own_only:
        assert Z2JH_ARCHIVE.is_file(), f"{Z2JH_ARCHIVE} is missing: run `make chart-dependency`"
    return copy.deepcopy(list(_rendered_ci_file(path, own_only)))
