"""Security of every workload the chart renders: not privileged, resources set, non-root.

No workload runs as root or adds a capability, purge-execute included: the EFS access point makes
every file operation the notebook user's (1000:100) whatever the pod's uid, so root would gain
nothing on EFS and everything elsewhere. No pod gets a Kubernetes API token.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chart.chartlib import (
    CI_FILES,
    Obj,
    by_kind,
    containers,
    load_yaml,
    pod_spec,
    render,
    workloads,
)

pytestmark = pytest.mark.chart

PURGE_EXECUTE = "CronJob/nexus-quota-purge-execute"
NOTEBOOK_USER = (1000, 100)


def _effective(pod: Obj, container: Obj, key: str) -> object:
    """A securityContext field as Kubernetes applies it: the container's, else the pod's."""
    own = container.get("securityContext", {})
    if key in own:
        return own[key]
    return pod.get("securityContext", {}).get(key)


def security_findings(name: str, obj: Obj) -> list[str]:
    pod = pod_spec(obj)
    found: list[str] = []
    if pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC"):
        found.append(f"{name}: shares a host namespace")
    for volume in pod.get("volumes", []):
        if "hostPath" in volume:
            found.append(f"{name}: mounts a hostPath")
    if pod.get("securityContext", {}).get("seccompProfile", {}).get("type") != "RuntimeDefault":
        found.append(f"{name}: no RuntimeDefault seccomp profile")
    for container in containers(pod):
        where = f"{name}/{container['name']}"
        context = container.get("securityContext", {})
        if context.get("privileged") is not False:
            found.append(f"{where}: privileged is not false")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{where}: allowPrivilegeEscalation is not false")
        if context.get("readOnlyRootFilesystem") is not True:
            found.append(f"{where}: root filesystem is writable")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            found.append(f"{where}: capabilities are not all dropped")
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if not resources.get(kind, {}).get(resource):
                    found.append(f"{where}: no {resource} {kind[:-1]}")
        added = set(capabilities.get("add", []))
        if _effective(pod, container, "runAsNonRoot") is not True:
            found.append(f"{where}: runAsNonRoot is not true")
        if _effective(pod, container, "runAsUser") in (0, None):
            found.append(f"{where}: no non-zero runAsUser")
        if added:
            found.append(f"{where}: adds capabilities {sorted(added)}")
    if pod.get("automountServiceAccountToken") is not False:
        found.append(f"{name}: mounts a Kubernetes API token")
    return found


@pytest.mark.parametrize("values_file", CI_FILES, ids=lambda p: p.name)
def test_every_workload_is_unprivileged_bounded_and_non_root(values_file: Path) -> None:
    objects = render(load_yaml(values_file))
    named = dict(workloads(objects))
    assert len(named) >= 2
    findings = [f for name, obj in named.items() for f in security_findings(name, obj)]
    assert findings == []


@pytest.mark.parametrize("values_file", CI_FILES, ids=lambda p: p.name)
def test_purge_execute_runs_as_the_notebook_user_without_capabilities(values_file: Path) -> None:
    named = dict(workloads(render(load_yaml(values_file))))
    purge = pod_spec(named[PURGE_EXECUTE])
    (container,) = containers(purge)
    ids = (_effective(purge, container, "runAsUser"), _effective(purge, container, "runAsGroup"))
    assert ids == NOTEBOOK_USER
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    # It removes files on EFS, so it mounts homes and scratch read-write: the only job that does.
    writable = {
        name
        for name, obj in named.items()
        for mount in containers(pod_spec(obj))[0].get("volumeMounts", [])
        if mount["mountPath"] == "/srv/nexus/homes" and not mount.get("readOnly")
    }
    assert writable == {PURGE_EXECUTE, "Deployment/nexus-quota"}


@pytest.mark.parametrize("values_file", CI_FILES, ids=lambda p: p.name)
def test_no_service_account_of_the_chart_hands_out_an_api_token(values_file: Path) -> None:
    accounts = by_kind(render(load_yaml(values_file)), "ServiceAccount")
    assert accounts
    assert {
        n for n, a in accounts.items() if a.get("automountServiceAccountToken") is not False
    } == set()


def test_the_checks_catch_a_privileged_or_unbounded_container() -> None:
    # Break a rendered Deployment the ways the test must notice.
    objects = render(load_yaml(CI_FILES[0]))
    name, deployment = next((n, o) for n, o in workloads(objects) if o["kind"] == "Deployment")
    container = pod_spec(deployment)["containers"][0]
    container["securityContext"]["privileged"] = True
    del container["resources"]["limits"]
    pod_spec(deployment)["securityContext"]["runAsNonRoot"] = False
    del container["securityContext"]["runAsNonRoot"]
    del pod_spec(deployment)["automountServiceAccountToken"]
    findings = security_findings(name, deployment)
    assert any("privileged" in f for f in findings)
    assert any("no memory limit" in f for f in findings)
    assert any("runAsNonRoot" in f for f in findings)
    assert any("API token" in f for f in findings)


def test_root_or_an_added_capability_is_caught() -> None:
    objects = render(load_yaml(CI_FILES[0]))
    purge = dict(workloads(objects))[PURGE_EXECUTE]
    context = pod_spec(purge)["containers"][0]["securityContext"]
    context["capabilities"]["add"] = ["DAC_OVERRIDE"]
    context["runAsUser"] = 0
    findings = security_findings(PURGE_EXECUTE, purge)
    assert any("DAC_OVERRIDE" in f for f in findings)
    assert any("runAsUser" in f for f in findings)
