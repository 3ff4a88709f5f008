"""Issue 16 item 5: the chart's environment releases (quota.policy.releases) are checked at
render time, as the quota service would at start-up, and reach the policy ConfigMap."""

from __future__ import annotations

import copy

import helm_python
import pytest
import yaml

from quota_service.policy import parse_policy
from tests.chart.chartlib import CHART_DIR, Obj, by_kind, ci_values, load_yaml, render

pytestmark = pytest.mark.chart


def _values_with(releases: list[Obj]) -> Obj:
    values = ci_values("eks-values.yaml")
    policy = load_yaml(CHART_DIR / "values.yaml")["quota"]["policy"]
    policy["releases"] = releases
    values.setdefault("quota", {})["policy"] = policy
    return values


def _defaults() -> list[Obj]:
    releases: list[Obj] = load_yaml(CHART_DIR / "values.yaml")["quota"]["policy"]["releases"]
    return releases


def test_the_chart_renders_one_image_per_release_into_the_policy() -> None:
    objects = render(ci_values("eks-values.yaml"))
    document = yaml.safe_load(
        by_kind(objects, "ConfigMap")["nexus-quota-config"]["data"]["policy.yaml"]
    )
    policy = parse_policy(document)
    images = [r.image.reference for r in policy.offered_releases()]
    assert len(images) == len(set(images)) == 2


def test_two_current_releases_are_refused() -> None:
    releases = copy.deepcopy(_defaults())
    for r in releases:
        r["current"] = True
    with pytest.raises(
        helm_python.HelmError, match=r"exactly one release must be current: true \(found 2\)"
    ):
        render(_values_with(releases))


def test_no_current_release_is_refused() -> None:
    releases = copy.deepcopy(_defaults())
    for r in releases:
        r["current"] = False
    with pytest.raises(
        helm_python.HelmError, match=r"exactly one release must be current: true \(found 0\)"
    ):
        render(_values_with(releases))


def test_a_repeated_id_is_refused() -> None:
    releases = copy.deepcopy(_defaults())
    releases[1]["id"] = releases[0]["id"]
    with pytest.raises(helm_python.HelmError, match=r'id "2026\.2" appears twice'):
        render(_values_with(releases))


def test_a_release_without_an_image_tag_is_refused_by_the_schema() -> None:
    releases = copy.deepcopy(_defaults())
    del releases[1]["image"]["tag"]
    with pytest.raises(helm_python.HelmError, match=r"releases/1/image': missing property 'tag'"):
        render(_values_with(releases))


def test_the_current_release_must_run_the_singleuser_image() -> None:
    values = _values_with(copy.deepcopy(_defaults()))
    ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com/roman-nexus/user"
    values["jupyterhub"]["singleuser"]["image"] = {"name": ecr, "tag": "0.1.0"}
    with pytest.raises(
        helm_python.HelmError,
        match=r"the current release \\?\"2026.2\\?\" runs ghcr.io/roman-research-nexus/user:0.1.0 "
        r"but jupyterhub.singleuser.image is 123456789012.dkr.ecr",
    ):
        render(values)
