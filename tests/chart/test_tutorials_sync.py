"""The tutorials CronJob as rendered, run here on a local repository (tests/chart/podrun.py).

Its command, environment, mounts and uid come from the chart; only the image's copy of
notebooks/ is bound at the path the image has it (/opt/nexus/src/notebooks). Then the folder
the hub mounts in user pods (hub_config's kube_volumes with the chart's custom.nexus) holds
the published, read-only tree.
"""

from __future__ import annotations

import os
import secrets
import shlex
import stat
import subprocess
from pathlib import Path
from typing import Any

import helm_python
import pytest

from hub_config import builders
from hub_config.settings import HubSettings
from tests.chart.chartlib import Obj, by_kind, ci_values, deep_merge, merged_values, render
from tests.chart.podrun import CHECKOUT, EFS_GID, EFS_UID, PodRunner
from tests.notebooks.test_tutorial_sync import Origin
from tests.support.processes import TEST_OUTPUT

pytestmark = [pytest.mark.chart, pytest.mark.integration]

IMAGE_NOTEBOOKS = "/opt/nexus/src/notebooks"  # images/user/Dockerfile: COPY notebooks/


class ImagePodRunner(PodRunner):
    """PodRunner with the user image's /opt/nexus/src/notebooks (the checkout's notebooks/)."""

    def argv(self, obj: Obj) -> tuple[list[str], dict[str, str]]:
        argv, env = super().argv(obj)
        image = (
            f"mount -t tmpfs -o mode=755 tmpfs /opt && mkdir -p {IMAGE_NOTEBOOKS} && "
            f"mount --bind {shlex.quote(str(CHECKOUT / 'notebooks'))} {IMAGE_NOTEBOOKS}"
        )
        lines = argv[-1].split("\n")
        lines.insert(1, image)
        return [*argv[:-1], "\n".join(lines)], env


def chart(origin: Origin, ref: str) -> tuple[list[Obj], dict[str, Any]]:
    source = {"name": "nexus", "repo": f"file://{origin.bare}", "ref": ref, "path": "notebooks"}
    values = deep_merge(ci_values("minimal-values.yaml"), {"tutorials": {"sources": [source]}})
    return render(values), merged_values(values)


def test_rendered_cronjob_publishes_where_user_pods_mount(tmp_path: Path) -> None:
    workdir = TEST_OUTPUT / "chart" / "tutorials" / secrets.token_hex(4)
    workdir.mkdir(parents=True)
    efs = workdir / "efs"
    efs.mkdir()
    # Outside /tmp (the pod's /tmp is its own emptyDir), owned by the pod's uid (git refuses
    # a repository of another owner).
    origin = Origin(workdir)
    origin.commit({"notebooks/a.ipynb": "v1", "README.md": "x"})
    subprocess.run(["chown", "-R", f"{EFS_UID}:{EFS_GID}", str(origin.bare)], check=True)

    objects, values = chart(origin, "main")
    (cronjob,) = [o for n, o in by_kind(objects, "CronJob").items() if "tutorials" in n]
    pods = ImagePodRunner(objects, efs, workdir)
    result = pods.run(cronjob)
    assert result.returncode == 0, result.stdout + result.stderr

    # Where hub_config mounts the tutorials in a user pod, with the chart's settings.
    nexus = values["jupyterhub"]["custom"]["nexus"]
    settings = HubSettings(**nexus)
    _volumes, mounts = builders.kube_volumes(settings, "alice")
    (mount,) = [m for m in mounts if m["mountPath"] == settings.tutorials_mount_path]
    assert mount["readOnly"] is True
    published = efs / mount["subPath"] / "nexus"
    assert (published / "a.ipynb").read_text() == "v1"
    assert not (published / "README.md").exists()
    real = Path(os.path.realpath(published))
    assert stat.S_IMODE(real.stat().st_mode) == 0o555
    assert stat.S_IMODE((real / "a.ipynb").stat().st_mode) == 0o444

    # The next scheduled run swaps in the new commit.
    subprocess.run(["chown", "-R", "0:0", str(origin.bare)], check=True)
    origin.commit({"notebooks/a.ipynb": "v2"})
    subprocess.run(["chown", "-R", f"{EFS_UID}:{EFS_GID}", str(origin.bare)], check=True)
    result = pods.run(cronjob)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (published / "a.ipynb").read_text() == "v2"

    # A ref the repository does not have: exit 4 and the message; the last tree stays.
    objects, _ = chart(origin, "no-such-branch")
    (cronjob,) = [o for n, o in by_kind(objects, "CronJob").items() if "tutorials" in n]
    result = ImagePodRunner(objects, efs, workdir).run(cronjob)
    assert result.returncode == 4
    assert "'no-such-branch' is not a branch or tag of" in result.stderr
    assert (published / "a.ipynb").read_text() == "v2"


def _tutorials_values(tutorials: dict[str, Any], subdir: str | None) -> Obj:
    return deep_merge(
        ci_values("minimal-values.yaml"),
        {
            "tutorials": tutorials,
            "jupyterhub": {"custom": {"nexus": {"tutorials_subdir": subdir}}},
        },
    )


def test_hub_mount_and_cronjob_folder_must_agree() -> None:
    with pytest.raises(helm_python.HelmError, match=r"must equal tutorials\.efsDir"):
        render(_tutorials_values({"efsDir": "elsewhere"}, "tutorials"))
    with pytest.raises(helm_python.HelmError, match="set it to null"):
        render(_tutorials_values({"enabled": False}, "tutorials"))
    objects = render(_tutorials_values({"enabled": False}, None))
    assert not [n for n in by_kind(objects, "CronJob") if "tutorials" in n]
    assert not [n for n in by_kind(objects, "NetworkPolicy") if "tutorials" in n]
