"""hub_config/teamdirs.py: consortium name -> team folder and group name, hostile names included."""

from __future__ import annotations

import re

import pytest

from hub_config.teamdirs import MAX_LENGTH, is_team_dir, team_dir, unique_team_dir

SHAPE = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$|^[a-z]$")


def _shape_ok(value: str) -> bool:
    return bool(SHAPE.match(value)) and len(value) <= MAX_LENGTH and is_team_dir(value)


@pytest.mark.parametrize("name", ["galaxies", "wfi-cal", "a", "team42", "x" * 32])
def test_a_safe_name_maps_to_itself(name: str) -> None:
    assert team_dir(name) == name


@pytest.mark.parametrize(
    ("name", "readable"),
    [
        ("Galaxy Evolution", "galaxy-evolution-"),
        ("a b", "a-b-"),
        ("../x", "x-"),
        ("Ünïcode", "unicode-"),
        ("WFI: Cal.2026", "wfi-cal-2026-"),
        ("42 Dwarfs", "team-42-dwarfs-"),
        ("李", "team-"),
        ("...", "team-"),
        ("team--x", "team-x-"),
    ],
)
def test_an_unsafe_name_gets_its_readable_part_and_a_hash(name: str, readable: str) -> None:
    result = team_dir(name)
    assert result.startswith(readable)
    assert re.fullmatch(re.escape(readable) + r"[0-9a-f]{8}", result), result
    assert _shape_ok(result)
    assert "/" not in result and ".." not in result


def test_a_very_long_name_is_cut_to_32_characters_with_its_hash() -> None:
    long_a = "Roman " + "Survey " * 14 + "A"
    long_b = "Roman " + "Survey " * 14 + "B"
    assert len(long_a) == 105
    a, b = team_dir(long_a), team_dir(long_b)
    assert len(a) == len(b) == MAX_LENGTH
    assert a.startswith("roman-survey-survey-sur-")
    assert a != b  # same readable prefix, different hashes
    assert _shape_ok(a) and _shape_ok(b)
    assert team_dir("y" * 33) != "y" * 33 and len(team_dir("y" * 33)) == MAX_LENGTH


def test_names_that_read_alike_get_different_folders() -> None:
    names = ["Team A", "team a", "TEAM-A", "team_a", "team.a", "team-a"]
    dirs = [team_dir(n) for n in names]
    assert len(set(dirs)) == len(names)
    assert team_dir("team-a") == "team-a"


def test_the_rule_is_stable() -> None:
    # Stored once; still, the same name always gives the same folder (backfill, re-creation).
    assert team_dir("Galaxy Evolution") == team_dir("Galaxy Evolution")
    assert team_dir("Galaxy Evolution") == "galaxy-evolution-" + team_dir("Galaxy Evolution")[-8:]


def test_a_collision_is_resolved_by_a_salted_alternative() -> None:
    first = team_dir("Team A")
    # Someone took the folder "Team A" maps to, by naming a consortium exactly that.
    assert team_dir(first) == first
    taken = {first}
    other = unique_team_dir("Team A", taken)
    assert other != first and _shape_ok(other) and other.startswith("team-a-")
    assert unique_team_dir("Team A", set()) == first
    assert unique_team_dir("Team A", lambda d: d in taken) == other
    with pytest.raises(ValueError, match="no free team folder"):
        unique_team_dir("Team A", lambda _d: True)


@pytest.mark.parametrize(
    "value",
    ["", "-a", "a-", "A", "1a", "a b", "a/b", "..", ".", "a--b", "a" * 33, "ä", "a\x00"],
)
def test_is_team_dir_refuses_what_the_rule_never_makes(value: str) -> None:
    assert not is_team_dir(value)
