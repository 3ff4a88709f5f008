"""Egress of the quota workloads, the hub, the proxy and user servers (issue 15 item 9).

Every pod of these is selected by an egress policy; every quota workload may reach DNS,
PostgreSQL and only what it uses (hub API, SMTP, S3/STS); and wherever egress is open to an IP
range, the instance metadata service (169.254.169.254, fd00:ec2::254) is excepted. Rendered with
z2jh's own templates, so its policies are checked as they deploy.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import helm_python
import pytest

from tests.chart.chartlib import (
    CI_FILES,
    Obj,
    by_kind,
    ci_values,
    deep_merge,
    render,
    render_ci_file,
    workloads,
)

pytestmark = pytest.mark.chart

METADATA = [ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")]
DNS, DB, HUB, SMTP, HTTPS = ("dns", 53), ("db", 5432), ("hub", 8081), ("smtp", 587), ("aws", 443)
# What each quota workload may reach with eks-values.yaml (archive bucket and SMTP set).
REACHES = {
    "quota": {DNS, DB, HUB, HTTPS},
    "migrate": {DNS, DB},
    "quota-scan": {DNS, DB},
    "quota-purge-plan": {DNS, DB},
    "quota-purge-notify": {DNS, DB, SMTP},
    "quota-purge-execute": {DNS, DB, HTTPS},
    "quota-reconcile": {DNS, DB, HUB},
    "quota-expire": {DNS, DB},
    "quota-teams-sync": {DNS, DB},
    # The tutorials CronJob: the git host over HTTPS (tutorials.egress), no database.
    "tutorials-sync": {DNS, HTTPS},
    # The CRDS cache CronJob: the CRDS server over HTTPS (crdsCache.egress), no database.
    "crds-sync": {DNS, HTTPS},
}


def _template_labels(obj: Obj) -> dict[str, str]:
    spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
    labels: dict[str, str] = spec["template"]["metadata"]["labels"]
    return labels


def _selects(policy: Obj, labels: dict[str, str]) -> bool:
    selector = policy["spec"]["podSelector"]
    assert set(selector) <= {"matchLabels"}, selector  # no expressions here
    return bool(selector["matchLabels"].items() <= labels.items())


def metadata_findings(policies: dict[str, Obj]) -> list[str]:
    """Egress rules open to the metadata service (any port), or open to everything."""
    found = []
    for name, policy in policies.items():
        if "Egress" not in policy["spec"].get("policyTypes", []):
            continue
        for i, rule in enumerate(policy["spec"].get("egress", [])):
            if not rule.get("to"):
                found.append(f"{name}: egress rule {i} allows every destination")
            for peer in rule.get("to", []):
                block = peer.get("ipBlock")
                if block is None:
                    continue
                network = ipaddress.ip_network(block["cidr"])
                excepted = [ipaddress.ip_network(e) for e in block.get("except", [])]
                for address in METADATA:
                    if address in network and not any(address in e for e in excepted):
                        found.append(f"{name}: egress rule {i} reaches {address} ({network})")
                for e in excepted:  # the API server refuses an except outside its cidr
                    if e.network_address not in network or e.prefixlen <= network.prefixlen:
                        found.append(f"{name}: except {e} is not strictly inside {network}")
    return found


@pytest.mark.parametrize("values_file", CI_FILES, ids=lambda p: p.name)
def test_egress_never_reaches_the_metadata_service(values_file: Path) -> None:
    policies = by_kind(render_ci_file(values_file), "NetworkPolicy")
    assert {"hub", "proxy", "singleuser", "nexus-quota-egress"} <= set(policies)
    assert metadata_findings(policies) == []


def test_the_check_sees_an_open_metadata_service() -> None:
    policies = by_kind(render_ci_file(CI_FILES[0]), "NetworkPolicy")
    hub = policies["hub"]
    hub["spec"]["egress"].append({"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}]})
    hub["spec"]["egress"].append({"ports": [{"port": 80}]})
    found = metadata_findings({"hub": hub})
    assert any("169.254.169.254" in f for f in found)
    assert any("every destination" in f for f in found)


@pytest.mark.parametrize("values_file", CI_FILES, ids=lambda p: p.name)
def test_every_hub_proxy_user_and_quota_pod_has_its_egress_limited(values_file: Path) -> None:
    objects = render_ci_file(values_file)
    egress = [
        p
        for p in by_kind(objects, "NetworkPolicy").values()
        if "Egress" in p["spec"]["policyTypes"]
    ]
    pods = {
        name: _template_labels(obj)
        for name, obj in workloads(objects)
        if obj["kind"] != "DaemonSet"
    }
    pods["user server"] = {
        "component": "singleuser-server",
        "app": "jupyterhub",
        "release": "nexus-prod",
    }
    wanted = {n for n in pods if "nexus-quota" in n or n.endswith("-sync")} | {
        "Deployment/hub",
        "Deployment/proxy",
        "user server",
    }
    assert wanted <= set(pods)
    unlimited = {n for n in wanted if not any(_selects(p, pods[n]) for p in egress)}
    assert unlimited == set()


def _reaches(policy: Obj, hub_labels: dict[str, str]) -> set[tuple[str, int]]:
    found = set()
    for rule in policy["spec"]["egress"]:
        for port in rule["ports"]:
            assert port["protocol"] in ("TCP", "UDP")
            for peer in rule["to"]:
                if "ipBlock" in peer:
                    kind = {5432: "db", 587: "smtp", 443: "aws"}[port["port"]]
                elif peer.get("namespaceSelector"):
                    kind = "dns"
                else:
                    assert peer["podSelector"]["matchLabels"].items() <= hub_labels.items()
                    kind = "hub"
                found.add((kind, port["port"]))
    return found


def test_each_quota_workload_reaches_only_what_it_uses() -> None:
    objects = render_ci_file(next(p for p in CI_FILES if p.name == "eks-values.yaml"))
    hub_labels = _template_labels(by_kind(objects, "Deployment")["hub"])
    own = {
        p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]: p
        for n, p in by_kind(objects, "NetworkPolicy").items()
        if n.endswith("-egress")
    }
    assert {c: _reaches(p, hub_labels) for c, p in own.items()} == REACHES
    for policy in own.values():
        assert policy["spec"]["policyTypes"] == ["Egress"]
    # The database peers are the operator's subnets; S3 is the internet, not the VPC.
    (db_rule,) = [r for r in own["quota"]["spec"]["egress"] if r["ports"][0]["port"] == 5432]
    assert db_rule["to"] == [{"ipBlock": {"cidr": "10.20.0.0/22"}}]
    (s3,) = [r for r in own["quota"]["spec"]["egress"] if r["ports"][0]["port"] == 443]
    assert s3["to"] == [
        {
            "ipBlock": {
                "cidr": "0.0.0.0/0",
                "except": [
                    "10.0.0.0/8",
                    "100.64.0.0/10",
                    "172.16.0.0/12",
                    "192.168.0.0/16",
                    "169.254.0.0/16",
                ],
            }
        }
    ]
    # The hub container listens where the quota pods may connect.
    hub = by_kind(objects, "Deployment")["hub"]["spec"]["template"]["spec"]["containers"][0]
    assert 8081 in [p["containerPort"] for p in hub["ports"]]


def test_the_migration_policy_exists_before_its_pod() -> None:
    objects = render(ci_values("minimal-values.yaml"))
    policy = by_kind(objects, "NetworkPolicy")["nexus-quota-migrate-egress"]
    job = by_kind(objects, "Job")["nexus-quota-migrate"]
    hooks = policy["metadata"]["annotations"]
    assert hooks["helm.sh/hook"] == job["metadata"]["annotations"]["helm.sh/hook"]
    assert int(hooks["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"]
    )
    assert _selects(policy, _template_labels(job))


def _egress(values: Obj) -> dict[str, Obj]:
    objects = render(deep_merge(ci_values("minimal-values.yaml"), values))
    return {n: p for n, p in by_kind(objects, "NetworkPolicy").items() if n.endswith("-egress")}


def _blocks(policy: Obj, port: int) -> list[Obj]:
    return [
        peer["ipBlock"]
        for r in policy["spec"]["egress"]
        if r["ports"][0]["port"] == port
        for peer in r["to"]
    ]


def test_cidrs_that_hold_the_metadata_address_except_it() -> None:
    egress = {
        "database": {"cidrs": ["0.0.0.0/0", "169.254.169.0/24", "169.254.170.23/32"], "port": 6432}
    }
    policies = _egress({"quota": {"networkPolicy": {"egress": egress}}})
    assert _blocks(policies["nexus-quota-egress"], 6432) == [
        {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]},
        {"cidr": "169.254.169.0/24", "except": ["169.254.169.254/32"]},
        {"cidr": "169.254.170.23/32"},
    ]
    assert metadata_findings(policies) == []


def test_smtp_follows_the_settings_port_unless_set() -> None:
    smtp = {"quota": {"config": {"smtp": {"host": "mail.example.org", "port": 2525}}}}
    notify = _egress(smtp)["nexus-quota-purge-notify-egress"]
    assert _blocks(notify, 2525)
    pinned = deep_merge(smtp, {"quota": {"networkPolicy": {"egress": {"smtp": {"port": 465}}}}})
    assert _blocks(_egress(pinned)["nexus-quota-purge-notify-egress"], 465)
    # Without an SMTP host, or a bucket, nothing of the kind is open.
    plain = _egress({})
    assert not _blocks(plain["nexus-quota-purge-notify-egress"], 587)
    assert not _blocks(plain["nexus-quota-egress"], 443)


@pytest.mark.parametrize(
    ("cidr", "match"),
    [
        ("169.254.169.254/32", r"aws\.cidrs\[0\]: 169\.254\.169\.254/32 is the instance metadata"),
        ("10.0.0.1/8", r"aws\.cidrs\[0\]: \"10\.0\.0\.1/8\" has host bits set"),
        ("10.0.0.300/32", r"aws\.cidrs\[0\]: \"10\.0\.0\.300/32\" is not an IPv4 CIDR"),
        ("fd00:ec2::254/128", r"cidrs"),
    ],
)
def test_bad_cidrs_are_refused_naming_the_key(cidr: str, match: str) -> None:
    values = {"quota": {"networkPolicy": {"egress": {"aws": {"cidrs": [cidr], "port": 443}}}}}
    with pytest.raises(helm_python.HelmError, match=match):
        _egress(values)


def test_dns_peers_are_selectors_only() -> None:
    dns = [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
    with pytest.raises(helm_python.HelmError, match="dns"):
        _egress({"quota": {"networkPolicy": {"egress": {"dns": dns}}}})
