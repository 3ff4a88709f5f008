"""Issue 15 item 3: JupyterHub's `subdomain_host` in the chart, the production setting.

ci/eks-values.yaml turns it on; the chart refuses it without the ingress answering for the
hub's host and the wildcard (with a certificate for both), naming the key to fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import helm_python
import pytest
from jupyterhub.utils import subdomain_hook_idna

from quota_service.config import Settings
from quota_service.web.oauth import OAuthConfig
from tests.chart.chartlib import Obj, by_kind, ci_values, merged_values, render

pytestmark = pytest.mark.chart

HOST = "nexus.roman.example.org"
KEY = r"jupyterhub\.hub\.config\.JupyterHub\.subdomain_host"


def _eks() -> Obj:
    return ci_values("eks-values.yaml")


def test_eks_values_put_user_servers_on_their_own_origins() -> None:
    values = _eks()
    assert (
        values["jupyterhub"]["hub"]["config"]["JupyterHub"]["subdomain_host"] == f"https://{HOST}"
    )
    # The chart passes it to JupyterHub as configuration (z2jh's hub.config).
    merged = merged_values(values)
    assert (
        merged["jupyterhub"]["hub"]["config"]["JupyterHub"]["subdomain_host"] == f"https://{HOST}"
    )
    objects = render(values, own_only=False)
    (ingress,) = by_kind(objects, "Ingress").values()
    rules = {r["host"]: r for r in ingress["spec"]["rules"]}
    assert list(rules) == [HOST, f"*.{HOST}"]
    for rule in rules.values():
        backend = rule["http"]["paths"][0]["backend"]["service"]
        assert backend["name"] == "proxy-public"


def _set(value: str) -> Callable[[Obj], None]:
    def apply(v: Obj) -> None:
        v["jupyterhub"]["hub"]["config"]["JupyterHub"]["subdomain_host"] = value

    return apply


def _hosts(*hosts: str) -> Callable[[Obj], None]:
    def apply(v: Obj) -> None:
        v["jupyterhub"]["ingress"]["hosts"] = list(hosts)

    return apply


def _no_ingress(v: Obj) -> None:
    v["jupyterhub"]["ingress"]["enabled"] = False


def _tls_without_wildcard(v: Obj) -> None:
    v["jupyterhub"]["ingress"]["tls"] = [{"hosts": [HOST], "secretName": "nexus-tls"}]


BAD = {
    "plain http": (_set(f"http://{HOST}"), rf"{KEY} \"http://{HOST}\" must be https://"),
    "with a path": (_set(f"https://{HOST}/hub"), rf"{KEY} .* without port, path"),
    "ingress off": (_no_ingress, rf"{KEY} is set, so jupyterhub\.ingress\.enabled must be true"),
    "no wildcard host": (
        _hosts(HOST),
        r"jupyterhub\.ingress\.hosts must include \"\*\.nexus\.roman\.example\.org\"",
    ),
    "wildcard first": (
        _hosts(f"*.{HOST}", HOST),
        rf"jupyterhub\.ingress\.hosts\[0\] must be {HOST}, the host of {KEY}",
    ),
    "another host": (
        _hosts("jupyter.example.org", "*.jupyter.example.org"),
        rf"jupyterhub\.ingress\.hosts\[0\] must be {HOST}",
    ),
    "certificate without the wildcard": (
        _tls_without_wildcard,
        r"jupyterhub\.ingress\.tls must list \"\*\.nexus\.roman\.example\.org\"",
    ),
}


@pytest.mark.parametrize("case", BAD, ids=str)
def test_subdomain_host_without_a_matching_wildcard_ingress_is_refused(case: str) -> None:
    breaks, message = BAD[case]
    values = _eks()
    breaks(values)
    with pytest.raises(helm_python.HelmError, match=message):
        render(values)


def test_a_tls_certificate_for_both_names_is_accepted() -> None:
    values = _eks()
    values["jupyterhub"]["ingress"]["tls"] = [
        {"hosts": [HOST], "secretName": "nexus-tls"},
        {"hosts": [f"*.{HOST}"], "secretName": "nexus-wildcard-tls"},
    ]
    assert "nexus-quota" in by_kind(render(values), "Deployment")


def test_without_subdomain_host_the_wildcard_is_not_required() -> None:
    values = _eks()
    del values["jupyterhub"]["hub"]["config"]
    values["jupyterhub"]["ingress"]["hosts"] = [HOST]
    assert "nexus-quota" in by_kind(render(values), "Deployment")


def test_the_quota_service_signs_in_on_its_own_host(monkeypatch: pytest.MonkeyPatch) -> None:
    # JupyterHub's own subdomain hook names the service's host, and the hub registers the
    # service's OAuth callback there; the Deployment must send exactly that callback.
    service_host = subdomain_hook_idna("quota", HOST, "service")
    objects = render(_eks(), own_only=False)
    (container,) = by_kind(objects, "Deployment")["nexus-quota"]["spec"]["template"]["spec"][
        "containers"
    ]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["JUPYTERHUB_OAUTH_CALLBACK_URL"] == (
        f"https://{service_host}/services/quota/oauth_callback"
    )
    assert env["JUPYTERHUB_HOST"] == f"https://{HOST}"
    assert env["JUPYTERHUB_BASE_URL"] == "/"
    for name in ("JUPYTERHUB_OAUTH_CALLBACK_URL", "JUPYTERHUB_HOST", "JUPYTERHUB_BASE_URL"):
        monkeypatch.setenv(name, env[name])
    config = OAuthConfig.from_settings(Settings())
    assert config.authorize_url == f"https://{HOST}/hub/api/oauth2/authorize"
    assert config.redirect_uri == env["JUPYTERHUB_OAUTH_CALLBACK_URL"]
    nexus = merged_values(_eks())["jupyterhub"]["custom"]["nexus"]
    assert nexus["quota_public_path"] == f"https://{service_host}/services/quota/"


@pytest.mark.parametrize(
    ("key", "change"),
    [
        ("quota.config.public_url", lambda v: v["quota"]["config"].update(public_url="")),
        (
            "jupyterhub.custom.nexus.quota_public_path",
            lambda v: v["jupyterhub"]["custom"]["nexus"].pop("quota_public_path"),
        ),
    ],
)
def test_the_quota_service_origin_must_be_named(key: str, change: Callable[[Obj], None]) -> None:
    values = _eks()
    change(values)
    with pytest.raises(helm_python.HelmError, match=re.escape(key)):
        render(values, own_only=False)
