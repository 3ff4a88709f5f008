"""The storage jobs as Indexed Jobs: `jobs.scan.shards` / `jobs.purgePlan.shards` pods, each
measuring or planning its shard (JOB_COMPLETION_INDEX), the run named after the Job; with team
folders on, scan and purge-plan read them through the teams-admin claim (read-only) and
purge-execute archives them (read-write). The rendered pods run here (tests/chart/podrun.py):
three scan pods of one Job over one tree record one complete run."""

from __future__ import annotations

import copy
import os
import secrets
import subprocess
import sys

import helm_python
import pytest
from sqlalchemy import create_engine, text

from tests.chart.chartlib import (
    Obj,
    by_kind,
    ci_values,
    deep_merge,
    merged_values,
    pod_spec,
    render,
    render_manifests,
)
from tests.chart.podrun import EFS_GID, EFS_UID, PodRunner
from tests.support.databases import DatabaseFactory
from tests.support.processes import TEST_OUTPUT

pytestmark = pytest.mark.chart

SHARDED = {
    "jobs": {"scan": {"shards": 3, "parallelism": 2, "threads": 8}, "purgePlan": {"shards": 4}}
}


def _env(container: Obj) -> dict[str, Obj]:
    return {e["name"]: e for e in container["env"]}


def test_scan_and_purge_plan_are_indexed_jobs_with_the_teams_mounted() -> None:
    objects = render(deep_merge(ci_values("eks-values.yaml"), SHARDED))
    cron = by_kind(objects, "CronJob")
    for name, shards, parallel, run_env in [
        ("nexus-quota-scan", 3, 2, "NEXUS_SCAN_RUN_ID"),
        ("nexus-quota-purge-plan", 4, 1, "NEXUS_PURGE_RUN_ID"),
    ]:
        job = cron[name]["spec"]["jobTemplate"]["spec"]
        assert job["completionMode"] == "Indexed"
        assert (job["completions"], job["parallelism"]) == (shards, parallel)
        (container,) = pod_spec(cron[name])["containers"]
        env = _env(container)
        assert env["NEXUS_QUOTA_STORAGE_SHARDS"]["value"] == str(shards)
        if name == "nexus-quota-scan":
            assert env["NEXUS_SCAN_THREADS"]["value"] == "8"
        assert env[run_env]["valueFrom"] == {
            "fieldRef": {"fieldPath": "metadata.labels['job-name']"}
        }
        assert env["NEXUS_QUOTA_TEAMS__ROOT"]["value"] == "/srv/nexus/teams"
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "teams-admin"]
        assert mount["readOnly"] is True and mount["mountPath"] == "/srv/nexus/teams"
        (claim,) = [v for v in pod_spec(cron[name])["volumes"] if v["name"] == "teams-admin"]
        assert claim["persistentVolumeClaim"]["readOnly"] is True
    execute = cron["nexus-quota-purge-execute"]
    assert "completionMode" not in execute["spec"]["jobTemplate"]["spec"]
    (container,) = pod_spec(execute)["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "teams-admin"]
    assert "readOnly" not in mount  # it removes a removed team's folder after archiving it
    # Jobs that never touch storage stay plain Jobs without the teams.
    for name in ("nexus-quota-purge-notify", "nexus-quota-reconcile", "nexus-quota-expire"):
        spec = pod_spec(cron[name])
        assert "completionMode" not in cron[name]["spec"]["jobTemplate"]["spec"]
        assert not [v for v in spec.get("volumes", []) if v["name"].startswith("teams")]


def test_the_default_is_one_shard_and_no_teams_without_team_folders() -> None:
    cron = by_kind(render(ci_values("minimal-values.yaml")), "CronJob")
    job = cron["nexus-quota-scan"]["spec"]["jobTemplate"]["spec"]
    assert (job["completionMode"], job["completions"], job["parallelism"]) == ("Indexed", 1, 1)
    (container,) = pod_spec(cron["nexus-quota-scan"])["containers"]
    assert "NEXUS_QUOTA_TEAMS__ROOT" not in _env(container)


@pytest.mark.parametrize("bad", [0, -1, 1001, "3"])
def test_bad_shard_counts_are_refused_by_the_schema(bad: object) -> None:
    values = copy.deepcopy(ci_values("minimal-values.yaml"))
    values = deep_merge(values, {"jobs": {"scan": {"shards": bad}}})
    with pytest.raises(helm_python.HelmError, match="shards"):
        render_manifests(values)


@pytest.mark.integration
def test_three_rendered_scan_pods_combine_one_run(databases: DatabaseFactory) -> None:
    workdir = TEST_OUTPUT / "chart" / "shards" / secrets.token_hex(4)
    efs = workdir / "efs"
    efs.mkdir(parents=True)
    db_url = databases.empty("postgresql")
    values = deep_merge(
        ci_values("minimal-values.yaml"),
        {
            "secrets": {"databaseUrl": db_url, "sessionSecret": secrets.token_hex(32)},
            "jobs": {"scan": {"shards": 3, "parallelism": 3}, "purgePlan": {"shards": 3}},
        },
    )
    objects = render(values, own_only=False)
    pods = PodRunner(objects, efs, workdir)
    migrate = pods.run(by_kind(objects, "Job")["nexus-quota-migrate"])
    assert migrate.returncode == 0, migrate.stderr
    people = [f"p{i}" for i in range(9)]
    env = {**os.environ, "NEXUS_QUOTA_DATABASE_URL": db_url}
    for person in people:
        made = subprocess.run(
            [
                sys.executable,
                "-m",
                "quota_service.cli.main",
                "grant",
                person,
                "entry",
                "--reason",
                "t",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert made.returncode == 0, made.stderr
    home_dir = merged_values(values)["efs"]["homeDir"]
    for i, person in enumerate(people):
        home = efs / home_dir / person
        (home / "data").mkdir(parents=True)
        (home / "data" / "f.bin").write_bytes(b"x" * (4096 * (i + 1)))
    for path in [efs, *efs.rglob("*")]:
        os.chown(path, EFS_UID, EFS_GID)

    scan = by_kind(objects, "CronJob")["nexus-quota-scan"]
    for index in (2, 0, 1):
        result = pods.run(scan, job="nexus-quota-scan-29433000", index=index)
        assert result.returncode == 0, result.stderr
    again = pods.run(scan, job="nexus-quota-scan-29433000", index=0)  # a retried pod
    assert again.returncode == 0, again.stderr

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            shards = conn.execute(
                text("SELECT shard_index, users, attempts FROM scan_shards ORDER BY shard_index")
            ).all()
            runs = conn.execute(text("SELECT run_id, shard_count, users FROM scan_runs")).all()
            rows = conn.execute(
                text("SELECT count(*), count(DISTINCT user_id) FROM storage_usage_snapshots")
            ).one()
    finally:
        engine.dispose()
    assert [s[0] for s in shards] == [0, 1, 2] and sum(s[1] for s in shards) == len(people)
    assert [s[2] for s in shards] == [2, 1, 1]
    assert [tuple(r) for r in runs] == [("nexus-quota-scan-29433000", 3, len(people))]
    assert tuple(rows) == (len(people), len(people))  # the retried shard replaced its rows

    plan = by_kind(objects, "CronJob")["nexus-quota-purge-plan"]
    for index in range(3):
        result = pods.run(plan, job="nexus-quota-purge-plan-29433100", index=index)
        assert result.returncode == 0, result.stderr
