"""What the whole rendered chart (z2jh included) must hold on a fresh EKS cluster, per ci/ file.

- homes are created through an EFS access point (uid 1000 / gid 100), never root-owned;
- the hub database volume names a StorageClass (new EKS clusters have no default one);
- z2jh's image pullers and user placeholders tolerate the size node pools' taints;
- the ALB Ingress has a host, a certificate and the hub's health-check path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chart.chartlib import (
    CI_FILES,
    Z2JH_USER_TOLERATIONS,
    Obj,
    by_kind,
    load_yaml,
    merged_values,
    pod_spec,
    render_ci_file,
)

pytestmark = pytest.mark.chart

ALB = "alb.ingress.kubernetes.io/"
EBS_CSI = "ebs.csi.aws.com"

ci_file = pytest.mark.parametrize("values_file", CI_FILES, ids=lambda p: p.name)


def _values(values_file: Path) -> Obj:
    return merged_values(load_yaml(values_file))


@ci_file
def test_efs_is_mounted_through_the_access_point(values_file: Path) -> None:
    efs = _values(values_file)["efs"]
    volumes = by_kind(render_ci_file(values_file), "PersistentVolume")
    assert efs["accessPointId"].startswith("fsap-")
    # Homes and scratch, and (when on) the team folders' two claims, each its own access point.
    handles = {v["spec"]["csi"]["volumeHandle"] for v in volumes.values()}
    assert {v["spec"]["csi"]["driver"] for v in volumes.values()} == {"efs.csi.aws.com"}
    points = ["accessPointId"]
    if efs.get("teamsAccessPointId"):
        points += ["teamsAccessPointId", "teamsAdminAccessPointId"]
    assert handles == {f"{efs['fileSystemId']}::{efs[p]}" for p in points}


@ci_file
def test_the_hub_database_volume_names_an_ebs_gp3_storage_class(values_file: Path) -> None:
    objects = render_ci_file(values_file)
    claim = by_kind(objects, "PersistentVolumeClaim")["hub-db-dir"]
    name = claim["spec"].get("storageClassName")
    assert name, "the hub's database volume names no StorageClass"
    hub_db = _values(values_file)["storage"]["hubDb"]["storageClass"]
    classes = by_kind(objects, "StorageClass")
    if not hub_db["create"]:
        assert name == hub_db["name"]
        assert name not in classes  # the operator's own class
        return
    storage_class = classes[name]
    assert storage_class["provisioner"] == EBS_CSI
    assert storage_class["parameters"]["type"] == "gp3"
    assert storage_class["parameters"]["encrypted"] == "true"
    # EBS volumes live in one zone: bind where the hub pod is scheduled.
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
    assert storage_class["reclaimPolicy"] == "Retain"
    assert "storageclass.kubernetes.io/is-default-class" not in storage_class["metadata"].get(
        "annotations", {}
    )


def tolerates(tolerations: list[Obj], wanted: Obj) -> bool:
    """Whether one of `tolerations` tolerates the taint `wanted` is written for (Kubernetes'
    rules: no effect matches every effect, `Exists` every value, `Exists` without key all)."""
    for t in tolerations:
        exists = t.get("operator", "Equal") == "Exists"
        key_ok = t.get("key", "") == wanted["key"] or (not t.get("key") and exists)
        value_ok = exists or (
            wanted.get("operator", "Equal") == "Equal" and t.get("value") == wanted.get("value")
        )
        effect_ok = not t.get("effect") or t["effect"] == wanted.get("effect")
        if key_ok and value_ok and effect_ok:
            return True
    return False


def test_toleration_matching_follows_kubernetes() -> None:
    taint = {
        "key": "nexus.roman/size",
        "operator": "Equal",
        "value": "large",
        "effect": "NoSchedule",
    }
    assert tolerates([taint], taint)
    assert tolerates([{"key": "nexus.roman/size", "operator": "Exists"}], taint)
    assert tolerates([{"operator": "Exists"}], taint)
    assert not tolerates([{**taint, "value": "medium"}], taint)
    assert not tolerates([{**taint, "effect": "NoExecute"}], taint)
    assert not tolerates(Z2JH_USER_TOLERATIONS, taint)


@ci_file
def test_pullers_and_placeholders_tolerate_every_size_taint(values_file: Path) -> None:
    sizes = _values(values_file)["quota"]["policy"]["sizes"]
    wanted = [t for size in sizes.values() for t in size["tolerations"]]
    assert wanted, "the policy has no tainted size: nothing to check"
    objects = render_ci_file(values_file)
    pods = {
        f"DaemonSet/{name}": by_kind(objects, "DaemonSet")[name]
        for name in ("hook-image-puller", "continuous-image-puller")
    }
    pods["StatefulSet/user-placeholder"] = by_kind(objects, "StatefulSet")["user-placeholder"]
    for name, workload in pods.items():
        tolerations = pod_spec(workload)["tolerations"]
        for toleration in Z2JH_USER_TOLERATIONS:
            assert toleration in tolerations, f"{name} lost z2jh's {toleration}"
        for toleration in wanted:
            assert tolerates(tolerations, toleration), f"{name} does not tolerate {toleration}"


@ci_file
def test_the_ingress_has_a_host_a_certificate_and_the_health_check(values_file: Path) -> None:
    ingress = by_kind(render_ci_file(values_file), "Ingress")["jupyterhub"]
    hosts = [rule.get("host") for rule in ingress["spec"]["rules"]]
    assert hosts and all(hosts), "an Ingress rule without a host"
    assert hosts == _values(values_file)["jupyterhub"]["ingress"]["hosts"]
    annotations = ingress["metadata"]["annotations"]
    tls_hosts = {h for entry in ingress["spec"].get("tls", []) for h in entry.get("hosts", [])}
    assert annotations.get(f"{ALB}certificate-arn", "").startswith("arn:aws:acm:") or (
        set(hosts) <= tls_hosts
    )
    assert annotations[f"{ALB}healthcheck-path"] == "/hub/health"
    assert annotations[f"{ALB}success-codes"] == "200"
    assert annotations[f"{ALB}listen-ports"] == '[{"HTTP": 80}, {"HTTPS": 443}]'
    assert annotations[f"{ALB}ssl-redirect"] == "443"
