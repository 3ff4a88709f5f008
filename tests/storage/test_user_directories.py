"""One username -> directory rule for the jobs, and the executor acts only where the DB says."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub_config.userdirs import UnmappableUsername, directory_name, username_of
from quota_service.factory import Factory
from quota_service.jobs.purge import PurgeService
from quota_service.jobs.scan import StorageService
from tests.support.clock import FakeClock

from .test_pipeline import world
from .trees import Layout, put

__all__ = ["world"]

World = tuple[Factory, FakeClock, Layout, PurgeService, StorageService]
HOSTILE = ["Jane.Doe@example.org", "o'brien", "李", "a--b", "jane-doe---d48722fc", "..", "a/b"]


# 20 characters of at most 4 UTF-8 bytes, each byte at most 3 once encoded: under 255.
@given(st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s))
def test_the_rule_is_injective_and_reversible(name: str) -> None:
    directory = directory_name(name)
    assert username_of(directory) == name
    assert "/" not in directory and directory not in {".", ".."}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_map_to_their_own_plain_directories(name: str) -> None:
    directory = directory_name(name)
    assert username_of(directory) == name
    assert all(c.isascii() and (c.isalnum() or c in "-_") for c in directory)


def test_a_name_shaped_like_anothers_directory_gets_a_different_one() -> None:
    # Registering "jane-2edoe" must not make you the owner of jane.doe's home.
    assert directory_name("jane.doe") == "jane-2edoe"
    assert directory_name("jane-2edoe") == "jane-2d2edoe"
    assert username_of("jane-2edoe") == "jane.doe"


@pytest.mark.parametrize("name", ["", "a\x00b", "é" * 100])
def test_unmappable_names_are_refused_with_a_reason(name: str) -> None:
    with pytest.raises(UnmappableUsername):
        directory_name(name)


@pytest.mark.parametrize("directory", ["Upper", "a-2", "a-zz", "-61", "-c3", "a.b", ""])
def test_directories_the_rule_never_makes_belong_to_nobody(directory: str) -> None:
    assert username_of(directory) is None


@pytest.mark.integration
def test_scan_attributes_each_directory_to_its_person(world: World) -> None:
    factory, _clock, lay, _purge, storage = world
    with factory.unit_of_work() as svc:
        for name in ("jane.doe", "jane-2edoe"):
            svc.users.ensure(name, login=True)
    put(lay.home("jane.doe") / "a.bin", b"j" * 10_000)
    put(lay.home("jane-2edoe") / "b.bin", b"x" * 100)
    put(lay.homes / "Not-A-Rule-Name" / "c", b"?")
    report = storage.scan(workers=1)
    sizes = {u.user: u.home_bytes for u in report.users}
    assert sizes["jane.doe"] > sizes["jane-2edoe"] >= 100
    assert sizes["jane.doe"] >= 10_000
    assert "Not-A-Rule-Name" not in sizes and "Not-A-Rule-Name" not in report.unknown


@pytest.mark.integration
def test_execute_refuses_a_manifest_whose_root_is_someone_elses(world: World) -> None:
    factory, clock, lay, purge, _storage = world
    with factory.unit_of_work() as svc:
        for name in ("alice", "bob"):
            svc.users.ensure(name, login=True)
    put(lay.scr("alice") / "old.dat", b"a", age_days=60)
    put(lay.scr("bob") / "old.dat", b"b", age_days=60)
    plan = purge.plan()
    paths = {m["user"]: Path(m["path"]) for m in plan.manifests if m["entries"]}
    assert set(paths) == {"alice", "bob"}
    purge.notify()
    clock.advance(days=7, hours=1)
    # Someone with write access to the state directory swaps bob's manifest in for alice's.
    shutil.copyfile(paths["bob"], paths["alice"])
    done = purge.execute(yes=True, users=["alice"])
    assert done.manifests == []
    assert any("is not alice's scratch directory" in e for e in done.errors), done.errors
    assert os.path.exists(lay.scr("bob") / "old.dat")
    assert os.path.exists(lay.scr("alice") / "old.dat")
    # bob's own manifest still runs where it was planned.
    clock.advance(minutes=1)
    assert [m["user"] for m in purge.execute(yes=True, users=["bob"]).manifests] == ["bob"]
    assert not os.path.exists(lay.scr("bob") / "old.dat")
