"""Values that cannot work are refused by `helm template`, with a message naming the key.

Each case starts from ci/eks-values.yaml (which renders) and breaks one thing.
"""

from __future__ import annotations

from collections.abc import Callable

import helm_python
import pytest

from tests.chart.chartlib import Z2JH_USER_TOLERATIONS, Obj, by_kind, ci_values, render

pytestmark = pytest.mark.chart

# Sizes are checked in name order: "large" is the first tainted one.
LARGE_TAINT = r"nexus\.roman/size=large:NoSchedule, the taint of size large"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def _no_host(v: Obj) -> None:
    v["jupyterhub"]["ingress"]["hosts"] = []


def _url_as_host(v: Obj) -> None:
    v["jupyterhub"]["ingress"]["hosts"] = ["https://nexus.roman.example.org/"]


def _no_certificate(v: Obj) -> None:
    del v["jupyterhub"]["ingress"]["annotations"]["alb.ingress.kubernetes.io/certificate-arn"]


def _default_health_check(v: Obj) -> None:
    v["jupyterhub"]["ingress"]["annotations"]["alb.ingress.kubernetes.io/healthcheck-path"] = "/"


def _no_access_point(v: Obj) -> None:
    v["efs"]["accessPointId"] = ""


def _unknown_tier_size(v: Obj) -> None:
    tiers = {"research": {"sizes": ["small", "huge"]}}
    v.setdefault("quota", {}).setdefault("policy", {})["tiers"] = tiers


def _unknown_fallback_size(v: Obj) -> None:
    v["jupyterhub"]["custom"]["nexus"]["fallback_size"] = {"name": "tiny"}


def _default_fallback_size_removed(v: Obj) -> None:
    # hub_config's fallback size is "small" unless set: removing that size breaks it too.
    v.setdefault("quota", {})["policy"] = {
        "sizes": {"small": None},
        "tiers": {"entry": {"sizes": ["medium"]}, "research": {"sizes": ["medium", "large"]}},
    }
    v["quota"]["policy"]["tiers"]["consortium"] = {"sizes": ["medium", "large", "xlarge"]}


def _hub_db_without_class(v: Obj) -> None:
    v["jupyterhub"]["hub"]["db"] = {"pvc": {"storageClassName": ""}}


def _hub_db_other_class(v: Obj) -> None:
    v["jupyterhub"]["hub"]["db"] = {"pvc": {"storageClassName": "gp2"}}


def _puller_without_size_tolerations(v: Obj) -> None:
    v["jupyterhub"]["scheduling"]["userPods"] = {"tolerations": Z2JH_USER_TOLERATIONS}


def _placeholder_without_size_tolerations(v: Obj) -> None:
    # The pre-pullers have them (extraTolerations) but the placeholders do not.
    _puller_without_size_tolerations(v)
    v["jupyterhub"]["prePuller"] = {
        "extraTolerations": [
            {"key": "nexus.roman/size", "operator": "Exists", "effect": "NoSchedule"}
        ]
    }


def _new_tainted_size(v: Obj) -> None:
    size = {
        "display_name": "GPU",
        "cpu_limit": 8,
        "cpu_guarantee": 4,
        "mem_limit_gib": 64,
        "mem_guarantee_gib": 48,
        "node_selector": {"nexus.roman/size": "gpu"},
        "tolerations": [GPU_TOLERATION],
    }
    v.setdefault("quota", {})["policy"] = {"sizes": {"gpu": size}}


BAD_VALUES: dict[str, tuple[Callable[[Obj], None], str]] = {
    "ingress without a host": (_no_host, r"jupyterhub\.ingress\.hosts "),
    "a URL as ingress host": (_url_as_host, r"jupyterhub\.ingress\.hosts\[0\] .*not a host name"),
    "ingress without a certificate": (
        _no_certificate,
        r"jupyterhub\.ingress\.tls.*alb\.ingress\.kubernetes\.io/certificate-arn",
    ),
    "ALB health check on /": (
        _default_health_check,
        r"jupyterhub\.ingress\.annotations\.\\?\"alb\.ingress\.kubernetes\.io/healthcheck-path",
    ),
    "EFS without an access point": (_no_access_point, r"efs\.accessPointId is required"),
    "unknown size in a tier": (
        _unknown_tier_size,
        r"quota\.policy\.tiers\.research\.sizes names \\?\"huge\\?\", .*quota\.policy\.sizes",
    ),
    "unknown fallback size": (
        _unknown_fallback_size,
        r"jupyterhub\.custom\.nexus\.fallback_size\.name \\?\"tiny\\?\" .*quota\.policy\.sizes",
    ),
    "default fallback size removed": (
        _default_fallback_size_removed,
        r"jupyterhub\.custom\.nexus\.fallback_size\.name \\?\"small\\?\"",
    ),
    "hub database without a StorageClass": (
        _hub_db_without_class,
        r"jupyterhub\.hub\.db\.pvc\.storageClassName is required",
    ),
    "hub database on another StorageClass than the chart's": (
        _hub_db_other_class,
        r"jupyterhub\.hub\.db\.pvc\.storageClassName is \\?\"gp2\\?\" .*storage\.hubDb",
    ),
    "pre-puller without the size tolerations": (
        _puller_without_size_tolerations,
        r"jupyterhub\.prePuller\.extraTolerations .*" + LARGE_TAINT,
    ),
    "placeholder without the size tolerations": (
        _placeholder_without_size_tolerations,
        r"jupyterhub\.scheduling\.userPods\.tolerations .*" + LARGE_TAINT,
    ),
    "a new size's taint nobody tolerates": (
        _new_tainted_size,
        r"jupyterhub\.prePuller\.extraTolerations .*nvidia\.com/gpu:NoSchedule, .*size gpu",
    ),
}


@pytest.mark.parametrize("case", BAD_VALUES, ids=str)
def test_bad_values_are_refused_naming_the_key(case: str) -> None:
    breaks, message = BAD_VALUES[case]
    values = ci_values("eks-values.yaml")
    breaks(values)
    with pytest.raises(helm_python.HelmError, match=message):
        render(values)


def test_the_starting_point_renders() -> None:
    # Without it, every refusal above could be for some other reason.
    objects = render(ci_values("eks-values.yaml"))
    assert "nexus-quota" in by_kind(objects, "Deployment")


def test_a_size_toleration_covered_by_exists_is_accepted() -> None:
    # Kubernetes' own matching: `Exists` on the key tolerates every value of the taint.
    values = ci_values("eks-values.yaml")
    exists = {"key": "nexus.roman/size", "operator": "Exists", "effect": "NoSchedule"}
    values["jupyterhub"]["scheduling"]["userPods"] = {
        "tolerations": [*Z2JH_USER_TOLERATIONS, exists]
    }
    placeholder = by_kind(render(values, own_only=False), "StatefulSet")["user-placeholder"]
    assert exists in placeholder["spec"]["template"]["spec"]["tolerations"]
