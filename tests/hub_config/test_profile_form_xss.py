"""Issue 15 item 1: allocation labels on the production spawn page, rendered by KubeSpawner.

KubeSpawner's own form.html prints profile_list entries without escaping, and a consortium's
name (by default the requester's proposal reference) is part of its allocation labels. The
API refuses names with markup, and hub_config escapes every string it puts into an entry;
labels written before the API's rule are rows the service still serves, so the form test puts
one into the database directly and renders it with KubeSpawner's real template, through the
real `profile_list` callable asking the real quota service. Both database backends.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes_asyncio.config import kube_config
from kubespawner import KubeSpawner
from sqlalchemy import text
from traitlets.config import Config

from hub_config.z2jh import configure
from quota_service import db
from tests.support.consortia import create_consortium
from tests.support.databases import BACKENDS, DatabaseFactory
from tests.support.processes import TEST_OUTPUT
from tests.support.quota import PREFIX, QuotaStack
from tests.support.quota_tokens import quota_admin_token

from .test_kube_manifests import DUMMY_KUBECONFIG

pytestmark = pytest.mark.integration

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'"
JUSTIFICATION = "Roman deep fields: a consortium of twelve people sharing one year of servers."


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module", params=BACKENDS)
def stack(request: pytest.FixtureRequest, databases: DatabaseFactory) -> Iterator[QuotaStack]:
    backend = str(request.param)
    s = QuotaStack.start(TEST_OUTPUT / "hub_config" / f"form-xss-{backend}", databases.new(backend))
    try:
        yield s
    finally:
        s.stop()


def _sql(stack: QuotaStack, statement: str, **params: Any) -> None:
    """Write a row as it could have been stored before the API refused markup in names."""
    engine = db.make_engine(stack.db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params)
    finally:
        engine.dispose()


def _consortium(stack: QuotaStack, lead: str) -> int:
    admin = quota_admin_token(stack, _name("adm"))
    with stack.api(admin) as api:
        return create_consortium(api, _name("deep fields"), [lead], cpu_hours=500)


class _Tags(HTMLParser):
    """Every start tag with its attributes, as a browser's tokenizer would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


async def _kubespawner_form(
    stack: QuotaStack, username: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The production hub's configuration, KubeSpawner's real form rendering, offline."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(DUMMY_KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    monkeypatch.setenv("JUPYTERHUB_CRYPT_KEY", secrets.token_hex(32))
    monkeypatch.setenv("NEXUS_QUOTA_HOOK_TOKEN", stack.hook_token)
    custom = {
        "oidc_authorize_url": "https://myst.example.org/authorize",
        "oidc_token_url": "https://myst.example.org/token",
        "oidc_userinfo_url": "https://myst.example.org/userinfo",
        "quota_url": stack.url + PREFIX,
    }
    c = Config()

    def get_config(key: str, default: Any = None) -> Any:
        return {"custom.nexus": custom}.get(key, default)

    configure(c, get_config)
    user = SimpleNamespace(name=username, id=1, url=f"/user/{username}/", groups=[])
    spawner = KubeSpawner(_mock=True, config=c, user=user)
    form = await spawner.get_options_form()
    assert isinstance(form, str)
    return form


async def test_kubespawner_form_escapes_a_hostile_label(
    stack: QuotaStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lead = _name("lead")
    stack.user_token(lead)
    cid = _consortium(stack, lead)
    _sql(stack, "UPDATE consortia SET name = :n WHERE id = :id", n=HOSTILE, id=cid)
    _sql(
        stack,
        "UPDATE allocations SET label = :label WHERE consortium_id = :id",
        label=f"Consortium {HOSTILE}",
        id=cid,
    )
    with stack.api(stack.user_token(lead)) as api:
        labels = [a["label"] for a in api.get("me").json()["allocations"]]
    assert f"Consortium {HOSTILE}" in labels  # the service serves the stored label as it is

    form = await _kubespawner_form(stack, lead, tmp_path, monkeypatch)

    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in form
    assert "<script>alert(1)" not in form and "<img" not in form
    tags = _tags(form)
    # KubeSpawner's template has one script of its own; the label adds no element at all.
    assert [t for t, _ in tags if t == "script"] == ["script"]
    assert not [t for t, _ in tags if t == "img"]
    assert not [a for _, attrs in tags for a in attrs if a.startswith("on")]
    # Escaped once: the text a person reads is the label, not "&amp;lt;".
    assert "&amp;lt;" not in form
    # Sizes only the consortium allows carry the label in their description; sizes Entry
    # also allows offer it as a "Charge to" choice.
    assert form.count("Consortium &lt;script&gt;") >= 2
    radios = [a.get("value") for t, a in tags if t == "input" and a.get("name") == "profile"]
    assert radios[:2] == ["small", "medium"] and "xlarge" in radios


def test_api_refuses_markup_in_consortium_names(stack: QuotaStack) -> None:
    requester = _name("req")
    admin = quota_admin_token(stack, _name("adm"))
    with stack.api(admin) as adm, stack.api(stack.user_token(requester)) as me:
        body = {
            "cpu_hours": 100,
            "home_quota_soft_gib": 1,
            "home_quota_hard_gib": 2,
            "term_days": 30,
            "leads": [requester],
        }
        refused = adm.post("admin/consortia", json={**body, "name": HOSTILE + _name("")})
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"].startswith("name: ")
        assert "cannot name a consortium" in refused.json()["detail"]

        filed = {"tier": "consortium", "justification": JUSTIFICATION}
        refused = me.post("me/requests", json={**filed, "proposal_ref": "<b>GO-1</b>"})
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"].startswith("proposal_ref: ")
        assert me.get("me/requests").json() == []

        # A request filed before the rule: its proposal_ref would name the consortium.
        created = me.post("me/requests", json={**filed, "proposal_ref": "GO-1"})
        assert created.status_code == 201, created.text
        req_id = created.json()["id"]
        _sql(
            stack,
            "UPDATE allocation_requests SET proposal_ref = :r WHERE id = :id",
            r=HOSTILE,
            id=req_id,
        )
        pool = {"cpu_hours": 100, "home_quota_hard_gib": 2}
        refused = adm.post(f"admin/requests/{req_id}/approve", json=pool)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "invalid_consortium_name"
        assert "proposal_ref" in refused.json()["detail"]
        assert "give consortium_name" in refused.json()["detail"]
        refused = adm.post(
            f"admin/requests/{req_id}/approve", json={**pool, "consortium_name": "<i>x</i>"}
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"].startswith("consortium_name: ")
        name = _name("GO 1 deep")
        approved = adm.post(
            f"admin/requests/{req_id}/approve", json={**pool, "consortium_name": name}
        )
        assert approved.status_code == 200, approved.text
        labels = [a["label"] for a in me.get("me").json()["allocations"]]
        assert f"Consortium {name} ({requester})" in labels
