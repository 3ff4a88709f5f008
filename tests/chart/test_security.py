"""Security of every workload the chart renders: not privileged, resources set, non-root.

One workload is allowed to run as root, by name: the purge-execute CronJob, which archives and
deletes files owned by every user on EFS. Its exception is pinned down here, not skipped: root,
no privilege escalation, every capability dropped except CHOWN, DAC_OVERRIDE and FOWNER.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chart.chartlib import CI_FILES, Obj, containers, load_yaml, pod_spec, render, workloads

pytestmark = pytest.mark.chart

ROOT_EXCEPTION = "CronJob/nexus-quota-purge-execute"
ROOT_CAPABILITIES = {"CHOWN", "DAC_OVERRIDE", "FOWNER"}


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
        if name == ROOT_EXCEPTION:
            if _effective(pod, container, "runAsUser") != 0:
                found.append(f"{where}: the purge must run as root (uid 0)")
            if not added <= ROOT_CAPABILITIES:
                found.append(f"{where}: adds {sorted(added - ROOT_CAPABILITIES)}")
        else:
            if _effective(pod, container, "runAsNonRoot") is not True:
                found.append(f"{where}: runAsNonRoot is not true")
            if _effective(pod, container, "runAsUser") in (0, None):
                found.append(f"{where}: no non-zero runAsUser")
            if added:
                found.append(f"{where}: adds capabilities {sorted(added)}")
    return found


@pytest.mark.parametrize("values_file", CI_FILES, ids=lambda p: p.name)
def test_every_workload_is_unprivileged_bounded_and_non_root(values_file: Path) -> None:
    objects = render(load_yaml(values_file))
    named = dict(workloads(objects))
    assert len(named) >= 2
    findings = [f for name, obj in named.items() for f in security_findings(name, obj)]
    assert findings == []


@pytest.mark.parametrize("values_file", CI_FILES, ids=lambda p: p.name)
def test_purge_execute_is_the_only_root_workload(values_file: Path) -> None:
    named = dict(workloads(render(load_yaml(values_file))))
    as_root = {
        name
        for name, obj in named.items()
        for container in containers(pod_spec(obj))
        if _effective(pod_spec(obj), container, "runAsNonRoot") is not True
    }
    assert as_root == {ROOT_EXCEPTION}
    purge = named[ROOT_EXCEPTION]
    (container,) = containers(pod_spec(purge))
    assert set(container["securityContext"]["capabilities"]["add"]) == ROOT_CAPABILITIES


def test_the_checks_catch_a_privileged_or_unbounded_container() -> None:
    # Break a rendered Deployment the ways the test must notice.
    objects = render(load_yaml(CI_FILES[0]))
    name, deployment = next((n, o) for n, o in workloads(objects) if o["kind"] == "Deployment")
    container = pod_spec(deployment)["containers"][0]
    container["securityContext"]["privileged"] = True
    del container["resources"]["limits"]
    pod_spec(deployment)["securityContext"]["runAsNonRoot"] = False
    del container["securityContext"]["runAsNonRoot"]
    findings = security_findings(name, deployment)
    assert any("privileged" in f for f in findings)
    assert any("no memory limit" in f for f in findings)
    assert any("runAsNonRoot" in f for f in findings)


def test_the_root_exception_is_held_to_its_capabilities() -> None:
    objects = render(load_yaml(CI_FILES[0]))
    purge = dict(workloads(objects))[ROOT_EXCEPTION]
    pod_spec(purge)["containers"][0]["securityContext"]["capabilities"]["add"].append("SYS_ADMIN")
    assert any("SYS_ADMIN" in f for f in security_findings(ROOT_EXCEPTION, purge))
