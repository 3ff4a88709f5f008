"""Each quota workload holds only what it uses (issue 15 item 9; docs/security-workloads.md).

- its own service account, none with a Kubernetes API token;
- an IAM role only on the Deployment (reads the home archive: restore at sign-in downloads) and
  on purge-execute (writes it), never the same role, never through the old shared annotation;
- only the secrets it reads: the hub token only where the hub is called (the Deployment, with
  the `quota` service's token; reconcile, with the `quota-jobs` token and its server scopes);
  the session key only in the Deployment; the SMTP password only in purge-notify.
"""

from __future__ import annotations

from pathlib import Path

import helm_python
import pytest

from tests.chart.chartlib import (
    CI_FILES,
    Obj,
    by_kind,
    ci_values,
    deep_merge,
    load_yaml,
    merged_values,
    pod_spec,
    render,
    workloads,
)

pytestmark = pytest.mark.chart

IRSA = "eks.amazonaws.com/role-arn"
DATABASE = ("nexus-secrets", "database-url")
SESSION = ("nexus-secrets", "session-secret")
SMTP = ("nexus-secrets", "smtp-password")
QUOTA_TOKEN = ("hub", "hub.services.quota.apiToken")
JOBS_TOKEN = ("hub", "hub.services.quota-jobs.apiToken")

# What each workload may read, by design.
SECRETS = {
    "Deployment/nexus-quota": {DATABASE, SESSION, QUOTA_TOKEN},
    "Job/nexus-quota-migrate": {("nexus-quota-migrate", "database-url")},
    "CronJob/nexus-quota-scan": {DATABASE},
    "CronJob/nexus-quota-purge-plan": {DATABASE},
    "CronJob/nexus-quota-purge-notify": {DATABASE, SMTP},
    "CronJob/nexus-quota-purge-execute": {DATABASE},
    "CronJob/nexus-quota-reconcile": {DATABASE, JOBS_TOKEN},
    "CronJob/nexus-quota-expire": {DATABASE},
    "CronJob/nexus-quota-teams-sync": {DATABASE},
    "CronJob/nexus-tutorials-sync": set(),  # public repositories: no secret at all
    "CronJob/nexus-crds-sync": set(),  # the public CRDS server: no secret at all
}
READ_ROLE = "arn:aws:iam::123456789012:role/nexus-quota-archive-read"
WRITE_ROLE = "arn:aws:iam::123456789012:role/nexus-quota-archive-write"


def _own(values_file: Path) -> list[Obj]:
    return render(load_yaml(values_file))


def _secret_refs(obj: Obj) -> set[tuple[str, str]]:
    (container,) = pod_spec(obj)["containers"]
    return {
        (ref["name"], ref["key"])
        for env in container.get("env", [])
        if (ref := env.get("valueFrom", {}).get("secretKeyRef"))
    }


@pytest.mark.parametrize("values_file", CI_FILES, ids=lambda p: p.name)
def test_one_service_account_per_workload_without_an_api_token(values_file: Path) -> None:
    objects = _own(values_file)
    accounts = by_kind(objects, "ServiceAccount")
    named = dict(workloads(objects))
    used = {name: str(pod_spec(obj).get("serviceAccountName")) for name, obj in named.items()}
    assert "None" not in used.values(), used
    assert len(set(used.values())) == len(used), f"shared accounts: {used}"
    for name, account in used.items():
        assert account in accounts, f"{name}: service account {account} is not rendered"
        assert accounts[account]["automountServiceAccountToken"] is False
        assert pod_spec(named[name])["automountServiceAccountToken"] is False
    # The migration runs before the release's objects exist: its account is a hook, made first.
    job = named["Job/nexus-quota-migrate"]
    hook = accounts[used["Job/nexus-quota-migrate"]]["metadata"]["annotations"]
    assert hook["helm.sh/hook"] == job["metadata"]["annotations"]["helm.sh/hook"]
    assert int(hook["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"]
    )


def test_iam_roles_only_where_intended() -> None:
    accounts = by_kind(render(ci_values("eks-values.yaml")), "ServiceAccount")
    roles = {
        name: a["metadata"]["annotations"][IRSA]
        for name, a in accounts.items()
        if IRSA in a["metadata"].get("annotations", {})
    }
    assert roles == {
        "nexus-quota": READ_ROLE,  # restore at sign-in: downloads only
        "nexus-quota-purge-execute": WRITE_ROLE,  # uploads archived homes
        "nexus-user": "arn:aws:iam::123456789012:role/nexus-user-data-read",
    }


@pytest.mark.parametrize("values_file", CI_FILES, ids=lambda p: p.name)
def test_each_workload_reads_only_its_own_secrets(values_file: Path) -> None:
    named = dict(workloads(_own(values_file)))
    found = {name: _secret_refs(obj) for name, obj in named.items()}
    want = {name: refs for name, refs in SECRETS.items() if name in named}
    if not merged_values(load_yaml(values_file))["secrets"]["create"]:
        want["Job/nexus-quota-migrate"] = {DATABASE}  # the operator's Secret, no hook copy
    assert found == want


@pytest.mark.parametrize("values_file", CI_FILES, ids=lambda p: p.name)
def test_only_the_deployment_and_reconcile_may_reach_the_hub(values_file: Path) -> None:
    # z2jh's hub NetworkPolicy admits pods with this label.
    label = "hub.jupyter.org/network-access-hub"
    admitted = set()
    for name, obj in workloads(_own(values_file)):
        template = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
        if template["template"]["metadata"]["labels"].get(label) == "true":
            admitted.add(name)
    assert admitted == {"Deployment/nexus-quota", "CronJob/nexus-quota-reconcile"}


def test_the_jobs_token_carries_the_server_scopes_reconcile_needs_and_no_admin() -> None:
    roles = merged_values(ci_values("minimal-values.yaml"))["jupyterhub"]["hub"]["loadRoles"]
    (jobs,) = [r for r in roles.values() if "quota-jobs" in r.get("services", [])]
    assert {"list:users", "read:servers", "delete:servers"} <= set(jobs["scopes"])
    assert not {s for s in jobs["scopes"] if s.startswith("admin") or s.endswith(":admin")}


BASE = {"quota": {"config": {"archive": {"bucket": "roman-nexus-home-archive"}}}}


def _refused(values: Obj, match: str) -> None:
    with pytest.raises(helm_python.HelmError, match=match):
        render(deep_merge(ci_values("minimal-values.yaml"), values))


def test_the_old_shared_role_annotation_is_refused_with_the_new_keys() -> None:
    old = {"quota": {"serviceAccount": {"annotations": {IRSA: WRITE_ROLE}}}}
    _refused(old, r"quota\.serviceAccount\.annotations.*roleArn.*jobs\.purgeExecute")
    execute = {"jobs": {"purgeExecute": {"serviceAccount": {"annotations": {IRSA: WRITE_ROLE}}}}}
    _refused(execute, r"jobs\.purgeExecute\.serviceAccount\.roleArn instead")


def test_the_deployment_never_gets_the_writing_role() -> None:
    same = {
        "quota": {"serviceAccount": {"roleArn": WRITE_ROLE}},
        "jobs": {"purgeExecute": {"serviceAccount": {"roleArn": WRITE_ROLE}}},
    }
    _refused(same, r"quota\.serviceAccount\.roleArn must not be")


def test_a_confirmed_purge_with_a_bucket_needs_both_roles() -> None:
    confirmed = deep_merge(BASE, {"jobs": {"purgeExecute": {"confirm": True}}})
    _refused(confirmed, r"jobs\.purgeExecute\.serviceAccount\.roleArn is required")
    writer = {"jobs": {"purgeExecute": {"serviceAccount": {"roleArn": WRITE_ROLE}}}}
    _refused(deep_merge(confirmed, writer), r"quota\.serviceAccount\.roleArn is required")
    both = deep_merge(
        deep_merge(confirmed, writer), {"quota": {"serviceAccount": {"roleArn": READ_ROLE}}}
    )
    assert "nexus-quota-purge-execute" in by_kind(
        render(deep_merge(ci_values("minimal-values.yaml"), both)), "CronJob"
    )


def test_a_role_that_is_not_an_arn_is_refused() -> None:
    _refused({"quota": {"serviceAccount": {"roleArn": "nexus-quota-archive"}}}, "roleArn")
