"""Where and as whom the chart's own pods run (node selector, tolerations, affinity, spread,
priority, pod and container security contexts, account) is what it was when
tests/chart/data/pod-scheduling.json was captured, for every ci/ file.

The Deployment, the migration Job and the CronJobs take all of it from one helper,
"nexus.podScheduling" (templates/_scheduling.tpl). After a deliberate change, regenerate the
golden file with `python -m tests.chart.test_pod_scheduling` and review its diff.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.chart.chartlib import CI_FILES, Obj, containers, pod_spec, render_ci_file

pytestmark = pytest.mark.chart

GOLDEN = Path(__file__).parent / "data" / "pod-scheduling.json"
# The pod spec's keys that are not about scheduling or identity, compared elsewhere.
NOT_SCHEDULING = {"containers", "initContainers", "volumes"}


def scheduling(path: Path) -> dict[str, Obj]:
    """Per own workload: its pod spec without containers and volumes, and each container's
    securityContext."""
    found: dict[str, Obj] = {}
    for obj in render_ci_file(path, own_only=True):
        if obj["kind"] not in {"Deployment", "Job", "CronJob"}:
            continue
        spec = pod_spec(obj)
        view = {key: value for key, value in spec.items() if key not in NOT_SCHEDULING}
        view["containerSecurityContexts"] = {
            c["name"]: c.get("securityContext") for c in containers(spec)
        }
        found[f"{obj['kind']}/{obj['metadata']['name']}"] = view
    return found


def everything() -> dict[str, dict[str, Obj]]:
    return {path.name: scheduling(path) for path in CI_FILES}


@pytest.mark.parametrize("path", CI_FILES, ids=[p.name for p in CI_FILES])
def test_pod_scheduling_matches_golden(path: Path) -> None:
    golden = json.loads(GOLDEN.read_text())
    assert path.name in golden, f"{path.name} has no golden: regenerate {GOLDEN.name}"
    assert scheduling(path) == golden[path.name]


def test_golden_covers_every_kind_of_workload() -> None:
    golden = json.loads(GOLDEN.read_text())
    names = {name for per_file in golden.values() for name in per_file}
    assert {name.split("/")[0] for name in names} == {"Deployment", "Job", "CronJob"}
    assert set(golden) == {path.name for path in CI_FILES}


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(everything(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
