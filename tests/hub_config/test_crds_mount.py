"""The shared CRDS cache in user pods: read-only, at the image's CRDS_PATH, only when set."""

from __future__ import annotations

import pytest

from hub_config import builders
from hub_config.settings import HubSettings


def test_crds_cache_mounted_read_only_when_set() -> None:
    settings = HubSettings(home_pvc_name="efs", crds_subdir="crds")
    volumes, mounts = builders.kube_volumes(settings, "jane.doe")
    (mount,) = [m for m in mounts if m["subPath"] == "crds"]
    assert mount == {"name": "nexus-efs", "mountPath": "/crds", "subPath": "crds", "readOnly": True}
    # the same claim's one volume, as for homes and scratch
    assert [v["persistentVolumeClaim"]["claimName"] for v in volumes].count("efs") == 1


def test_not_mounted_by_default() -> None:
    _volumes, mounts = builders.kube_volumes(HubSettings(home_pvc_name="efs"), "jane.doe")
    assert all(m["mountPath"] != "/crds" for m in mounts)


def test_folder_must_stay_on_the_claim() -> None:
    with pytest.raises(ValueError, match="crds_subdir"):
        HubSettings(crds_subdir="../homes")
