"""The parts fit: the hub's values name real objects, jobs mount EFS only where they need it."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import helm_python
import pytest

from hub_config import builders
from hub_config import services as hub_services
from hub_config import settings as settings_module
from tests.chart.chartlib import (
    CHART_DIR,
    CI_FILES,
    NAMESPACE,
    RELEASE,
    REPO_ROOT,
    Obj,
    by_kind,
    ci_values,
    containers,
    load_yaml,
    merged_values,
    pod_spec,
    render,
    workloads,
)

pytestmark = pytest.mark.chart

JOBS = {
    "nexus-quota-scan": ["nexus-quota", "scan"],
    "nexus-quota-purge-plan": ["nexus-quota", "purge", "plan"],
    "nexus-quota-purge-notify": ["nexus-quota", "purge", "notify"],
    "nexus-quota-purge-execute": ["nexus-quota", "purge", "execute"],
    "nexus-quota-reconcile": ["nexus-quota", "reconcile"],
    "nexus-quota-expire": ["nexus-quota", "expire"],
    # Tutorials from git (templates/tutorials/), from the user image.
    "nexus-tutorials-sync": [
        "python3",
        "/opt/nexus/src/notebooks/tutorial_sync.py",
        "--config",
        "/etc/nexus-tutorials/sources.json",
        "--dest",
        "/srv/nexus/tutorials",
    ],
    # The shared CRDS cache (templates/crds/), with the user image's Calibration kernel.
    "nexus-crds-sync": [
        "/opt/nexus/kernels/roman-calibration/bin/python",
        "-m",
        "crds.sync",
        "--contexts",
        "roman-operational",
        "--fetch-references",
        "--stats",
    ],
}
# Which jobs mount which EFS directories, and whether read-only: scan and plan read the users'
# files, execute changes them; plan, notify and execute share the purge state directory.
HOMES, SCRATCH, STATE = "/srv/nexus/homes", "/srv/nexus/scratch", "/srv/nexus/purge-state"
EFS_ACCESS = {
    "nexus-quota-scan": {HOMES: True, SCRATCH: True},
    "nexus-quota-purge-plan": {HOMES: True, SCRATCH: True, STATE: False},
    "nexus-quota-purge-notify": {STATE: False},
    "nexus-quota-purge-execute": {HOMES: False, SCRATCH: False, STATE: False},
    # The service restores archived homes at sign-in and shows the purge file lists.
    "nexus-quota": {HOMES: False, STATE: False},
    # Writes the published tutorials, which user pods mount read-only.
    "nexus-tutorials-sync": {"/srv/nexus/tutorials": False},
    # Fills the CRDS cache, which user pods mount read-only.
    "nexus-crds-sync": {"/srv/nexus/crds": False},
}
HOMES_CLAIM = "nexus-efs"
HUB_TOKEN_KEY = re.compile(r"^hub\.services\.(?P<service>[a-z0-9-]+)\.apiToken$")


@pytest.fixture(scope="module")
def minimal() -> list[Obj]:
    return render(ci_values("minimal-values.yaml"))


@pytest.fixture(scope="module")
def eks() -> list[Obj]:
    return render(ci_values("eks-values.yaml"))


def efs_mounts(obj: Obj, claim: str) -> dict[str, bool]:
    """Mount path -> readOnly, for each mount of the EFS claim in a workload."""
    pod = pod_spec(obj)
    volumes = {
        v["name"]
        for v in pod.get("volumes", [])
        if v.get("persistentVolumeClaim", {}).get("claimName") == claim
    }
    return {
        m["mountPath"]: bool(m.get("readOnly", False))
        for c in containers(pod)
        for m in c.get("volumeMounts", [])
        if m["name"] in volumes
    }


def test_cronjobs_run_the_cli_and_never_overlap(minimal: list[Obj]) -> None:
    cronjobs = by_kind(minimal, "CronJob")
    assert set(cronjobs) == set(JOBS)
    for name, cronjob in cronjobs.items():
        assert cronjob["spec"]["concurrencyPolicy"] == "Forbid", name
        (container,) = pod_spec(cronjob)["containers"]
        assert container["command"] == JOBS[name]
    # The production default deletes nothing until the operator says so.
    assert (
        "--yes" not in pod_spec(cronjobs["nexus-quota-purge-execute"])["containers"][0]["command"]
    )


def test_purge_execute_confirms_only_when_told() -> None:
    cronjobs = by_kind(render(ci_values("everything-values.yaml")), "CronJob")
    args = pod_spec(cronjobs["nexus-quota-purge-execute"])["containers"][0]["command"]
    assert args == ["nexus-quota", "purge", "execute", "--yes"]


@pytest.mark.parametrize("values_file", CI_FILES, ids=lambda p: p.name)
def test_efs_is_mounted_only_where_needed(values_file: Path) -> None:
    objects = render(load_yaml(values_file))
    # The homes' claim; the team folders' claims are test_team_folders_chart.py's.
    claim = HOMES_CLAIM
    assert claim in by_kind(objects, "PersistentVolumeClaim")
    mounted = {
        obj["metadata"]["name"]: efs_mounts(obj, claim)
        for _, obj in workloads(objects)
        if efs_mounts(obj, claim)
    }
    named = {obj["metadata"]["name"]: obj for _, obj in workloads(objects)}
    assert mounted == {name: m for name, m in EFS_ACCESS.items() if name in named}
    for name in mounted:
        (container,) = pod_spec(named[name])["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert (env.get("NEXUS_STORAGE_STATE_DIR") == STATE) == (STATE in mounted[name])
    # The users' directories, the purge state and nothing else: subPaths keep jobs out of the rest.
    merged = merged_values(load_yaml(values_file))
    values = merged["efs"]

    # (On the homes' claim: the storage jobs' team folders are test_storage_shards_chart.py's.)
    def on_homes_claim(pod: Obj, mount: Obj) -> bool:
        return any(
            v["name"] == mount["name"] and v["persistentVolumeClaim"]["claimName"] == claim
            for v in pod.get("volumes", [])
            if "persistentVolumeClaim" in v
        )

    sub_paths = {
        m["subPath"]
        for name in mounted
        for m in pod_spec(named[name])["containers"][0]["volumeMounts"]
        if "subPath" in m and on_homes_claim(pod_spec(named[name]), m)
    }
    assert sub_paths == {
        values["homeDir"],
        values["scratchDir"],
        values["purgeStateDir"],
        merged["tutorials"]["efsDir"],
        merged["crdsCache"]["efsDir"],
    }


def test_efs_storage_is_static_for_the_csi_driver(eks: list[Obj]) -> None:
    storage_class = by_kind(eks, "StorageClass")["efs-static"]
    volume = by_kind(eks, "PersistentVolume")[f"{HOMES_CLAIM}-{NAMESPACE}"]
    claim = by_kind(eks, "PersistentVolumeClaim")[HOMES_CLAIM]
    assert storage_class["provisioner"] == "efs.csi.aws.com"
    assert volume["spec"]["csi"] == {
        "driver": "efs.csi.aws.com",
        "volumeHandle": "fs-0123456789abcdef0::fsap-0123456789abcdef0",
    }
    assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert volume["spec"]["accessModes"] == ["ReadWriteMany"]
    assert volume["spec"]["claimRef"] == {"namespace": NAMESPACE, "name": claim["metadata"]["name"]}
    assert claim["spec"]["volumeName"] == volume["metadata"]["name"]
    assert (
        claim["spec"]["storageClassName"]
        == volume["spec"]["storageClassName"]
        == storage_class["metadata"]["name"]
    )


def test_the_hub_reaches_the_quota_service_by_its_rendered_name(minimal: list[Obj]) -> None:
    hub = merged_values(ci_values("minimal-values.yaml"))["jupyterhub"]["hub"]
    services = by_kind(minimal, "Service")
    for url in (hub["services"]["quota"]["url"], hub["extraEnv"]["NEXUS_QUOTA_URL"]):
        parts = urlsplit(url)
        assert parts.hostname in services, url
        assert parts.port in [p["port"] for p in services[parts.hostname]["spec"]["ports"]]
    assert urlsplit(hub["extraEnv"]["NEXUS_QUOTA_URL"]).path == "/services/quota/"
    deployment = by_kind(minimal, "Deployment")["nexus-quota"]
    (container,) = pod_spec(deployment)["containers"]
    assert container["command"] == ["nexus-quota", "serve"]
    # Readiness reads the schema (a compatible newer one is fine); liveness never does.
    assert container["readinessProbe"]["httpGet"]["path"] == "/services/quota/api/v1/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/services/quota/api/v1/health/live"
    assert deployment["spec"]["replicas"] >= 2


def test_hub_services_and_roles(minimal: list[Obj]) -> None:
    hub = merged_values(ci_values("minimal-values.yaml"))["jupyterhub"]["hub"]
    services = hub["services"]
    assert set(services) == {"quota", "quota-hub-hook", "quota-jobs"}
    assert services["quota"]["oauth_no_confirm"] is True
    assert services["quota"]["display"] is True
    # Token-only services have no URL: nothing is proxied to them.
    assert "url" not in services["quota-hub-hook"]
    assert "url" not in services["quota-jobs"]
    roles = hub["loadRoles"]
    scopes = {
        service: set(role["scopes"])
        for role in roles.values()
        for service in role.get("services", [])
    }
    assert scopes["quota-hub-hook"] == {"custom:nexus-quota:spawn"}
    # Reconcile lists users and their servers with activity, and stops servers: no more.
    assert scopes["quota-jobs"] == {
        "custom:nexus-quota:jobs",
        "list:users",
        "read:users:name",
        "read:users:activity",
        "read:servers",
        "delete:servers",
    }
    assert "access:services!service=quota" in roles["user"]["scopes"]
    assert "self" in roles["user"]["scopes"]
    for role in roles.values():
        assert set(role.get("services", [])) <= set(services)


def test_chart_roles_are_the_roles_hub_config_registers() -> None:
    # hub_config replaces roles by name; the chart's copy must say the same thing.
    hub = merged_values(ci_values("minimal-values.yaml"))["jupyterhub"]["hub"]
    chart_roles = {name: {"name": name, **role} for name, role in hub["loadRoles"].items()}
    assert chart_roles == {role["name"]: role for role in hub_services.roles()}


def test_every_secret_reference_resolves(minimal: list[Obj]) -> None:
    hub = merged_values(ci_values("minimal-values.yaml"))["jupyterhub"]["hub"]
    secrets = {name: set(s["data"]) for name, s in by_kind(minimal, "Secret").items()}
    hub_secret = merged_values(ci_values("minimal-values.yaml"))["quota"]["hubSecretName"]
    references: list[tuple[str, str, bool]] = []
    for _, obj in workloads(minimal):
        for container in containers(pod_spec(obj)):
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    references.append((ref["name"], ref["key"], bool(ref.get("optional"))))
    for env in hub["extraEnv"].values():
        if isinstance(env, dict):
            ref = env["valueFrom"]["secretKeyRef"]
            references.append((ref["name"], ref["key"], False))
    assert references
    for name, key, optional in references:
        if name == hub_secret:
            # z2jh writes hub.services.<name>.apiToken for every service in hub.services.
            match = HUB_TOKEN_KEY.match(key)
            assert match and match["service"] in hub["services"], key
        elif not optional:
            assert key in secrets.get(name, set()), f"{name}/{key}"


def test_user_storage_and_identity_match_the_rendered_objects(eks: list[Obj]) -> None:
    values = merged_values(ci_values("eks-values.yaml"))
    jupyterhub = values["jupyterhub"]
    singleuser, nexus = jupyterhub["singleuser"], jupyterhub["custom"]["nexus"]
    claim = HOMES_CLAIM
    assert claim in by_kind(eks, "PersistentVolumeClaim")
    # z2jh mounts nothing of EFS; the spawn hook mounts the claim once (test_z2jh_hub.py).
    assert singleuser["storage"]["type"] == "none"
    assert "extraVolumeMounts" not in singleuser["storage"]
    assert claim == nexus["home_pvc_name"] == nexus["scratch_pvc_name"]
    # Jobs see the same directories the users write to.
    assert nexus["home_subdir"] == values["efs"]["homeDir"]
    assert nexus["scratch_subdir"] == values["efs"]["scratchDir"]
    account = by_kind(eks, "ServiceAccount")[singleuser["serviceAccountName"]]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        ":role/nexus-user-data-read"
    )


def test_hub_settings_load_from_the_chart_values(monkeypatch: pytest.MonkeyPatch) -> None:
    # custom.nexus and the plain hub env vars are hub_config's settings (extra keys are errors).
    jupyterhub = merged_values(ci_values("eks-values.yaml"))["jupyterhub"]
    for name in list(os.environ):
        if name.startswith("NEXUS_"):
            monkeypatch.delenv(name)
    for name, value in jupyterhub["hub"]["extraEnv"].items():
        if isinstance(value, str):
            monkeypatch.setenv(name, value)
    settings = settings_module.load_settings(jupyterhub["custom"]["nexus"])
    assert settings.oidc_issuer == "https://myst.example.org/"
    assert settings.quota_url == jupyterhub["hub"]["extraEnv"]["NEXUS_QUOTA_URL"]
    assert settings.quota_fail_mode == "closed"
    volumes, mounts = builders.kube_volumes(settings, "jane.doe")
    assert {v["persistentVolumeClaim"]["claimName"] for v in volumes} == {"nexus-efs"}
    assert {m["subPath"] for m in mounts} == {
        "home/jane-2edoe",
        "scratch/jane-2edoe",
        "tutorials",
        "crds",
    }


def test_network_policy_admits_only_the_hub_and_the_proxy(minimal: list[Obj]) -> None:
    policy = by_kind(minimal, "NetworkPolicy")["nexus-quota"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    components = sorted(
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in rule["from"]
    )
    assert components == ["hub", "proxy"]
    for peer in rule["from"]:
        assert set(peer) == {"podSelector"}
        assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == RELEASE
    pods = pod_spec(by_kind(minimal, "Deployment")["nexus-quota"])
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= (
        by_kind(minimal, "Deployment")["nexus-quota"]["spec"]["template"]["metadata"][
            "labels"
        ].items()
    )
    assert pods["containers"][0]["ports"][0]["name"] == rule["ports"][0]["port"]


def test_disruption_budget_and_migration_hook(minimal: list[Obj]) -> None:
    (budget,) = by_kind(minimal, "PodDisruptionBudget").values()
    deployment = by_kind(minimal, "Deployment")["nexus-quota"]
    assert budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]
    (job,) = by_kind(minimal, "Job").values()
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert pod_spec(job)["containers"][0]["command"] == ["nexus-quota", "db", "upgrade"]
    # The URL comes from a hook Secret made just before the job: nothing else exists yet.
    ref = pod_spec(job)["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]
    hook_secret = by_kind(minimal, "Secret")[ref["name"]]
    assert hook_secret["metadata"]["annotations"]["helm.sh/hook"] == annotations["helm.sh/hook"]
    assert int(hook_secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        annotations["helm.sh/hook-weight"]
    )
    # Its account is a hook too, made with the Secret, before the job.
    account = by_kind(minimal, "ServiceAccount")[pod_spec(job)["serviceAccountName"]]
    assert account["metadata"]["annotations"]["helm.sh/hook"] == annotations["helm.sh/hook"]


def test_service_monitor_is_optional() -> None:
    assert "ServiceMonitor" not in {o["kind"] for o in render(ci_values("minimal-values.yaml"))}
    everything = render(ci_values("everything-values.yaml"))
    (monitor,) = by_kind(everything, "ServiceMonitor").values()
    assert monitor["spec"]["endpoints"][0]["path"] == "/services/quota/metrics"
    policy = by_kind(everything, "NetworkPolicy")["nexus-quota"]
    assert len(policy["spec"]["ingress"]) == 2


def test_mismatched_jupyterhub_names_refuse_to_render() -> None:
    values = ci_values("minimal-values.yaml")
    values["fullnameOverride"] = "other"
    with pytest.raises(helm_python.HelmError, match=r"jupyterhub\..* must be"):
        render(values)


def test_extra_config_only_imports_and_calls_tested_code() -> None:
    extra = load_yaml(CHART_DIR / "values.yaml")["jupyterhub"]["hub"]["extraConfig"]
    assert extra, "the hub must load hub_config"
    for key, source in extra.items():
        tree = ast.parse(source)
        assert len(source.splitlines()) == 1, key
        assert [type(node) for node in tree.body] == [ast.ImportFrom, ast.Expr], key
        call = tree.body[1]
        assert isinstance(call, ast.Expr) and isinstance(call.value, ast.Call)


def test_hub_config_provides_the_function_the_chart_calls() -> None:
    source = load_yaml(CHART_DIR / "values.yaml")["jupyterhub"]["hub"]["extraConfig"]["nexus"]
    tree = ast.parse(source)
    imported = tree.body[0]
    assert isinstance(imported, ast.ImportFrom) and imported.module
    module_file = REPO_ROOT.joinpath(*imported.module.split(".")).with_suffix(".py")
    assert module_file.is_file(), f"{module_file} does not exist"
    functions = {
        node.name
        for node in ast.parse(module_file.read_text()).body
        if isinstance(node, ast.FunctionDef)
    }
    assert {alias.name for alias in imported.names} <= functions


def test_confirmed_purge_needs_an_archive_bucket() -> None:
    values = ci_values("minimal-values.yaml")
    values["jobs"] = {"purgeExecute": {"confirm": True}}
    with pytest.raises(helm_python.HelmError, match=r"quota\.config\.archive\.bucket"):
        render(values)
    values["quota"] = {
        "config": {"archive": {"bucket": "roman-nexus-home-archive"}},
        "serviceAccount": {"roleArn": "arn:aws:iam::123456789012:role/archive-read"},
    }
    values["jobs"]["purgeExecute"]["serviceAccount"] = {
        "roleArn": "arn:aws:iam::123456789012:role/archive-write"
    }
    assert "nexus-quota-purge-execute" in by_kind(render(values), "CronJob")
