"""`nexus-quota teams list|sync`: every consortium's team folder and group; make the folders.

`sync` is the chart's CronJob and `make dev`'s way to (re)make every team folder: owner root,
group the team's gid, mode 0o3770, never following a link. It is idempotent, changes only the
top folder of each team, and never deletes. Exit codes (besides 0 ok, 3 configuration):
  3  the teams root is missing or not a directory;
  5  partial: some team folders were refused (a symlink, not a directory, or not permitted).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..filesystem.teams import TeamFolder, TeamsRootError, ensure_team_folders
from .context import EXIT_CONFIG, CliState, command_body, emit

EXIT_PARTIAL = 5


def register(cli: click.Group) -> None:
    cli.add_command(teams)


@click.group()
def teams() -> None:
    """Team folders: one per consortium, /teams/<team_dir> in its members' servers."""


@teams.command("list")
@command_body(json=True)
def teams_list(state: CliState, as_json: bool) -> None:
    """Every team: consortium name, folder name and gid (assigned now where missing)."""
    with state.factory().unit_of_work() as svc:
        found = svc.teams.all_teams()
    emit(found, as_json)


@teams.command("sync")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    help="the folder holding the team folders [default: setting teams.root, else `teams` "
    "beside storage_root]",
)
@click.option("--create-root", is_flag=True, help="create the root folder if it is missing")
@command_body(json=True)
def teams_sync(state: CliState, root: Path | None, create_root: bool, as_json: bool) -> None:
    """Create or fix every team's folder: owner root, group its gid, mode 3770."""
    where = root or state.settings.teams_root
    with state.factory().unit_of_work() as svc:
        found = svc.teams.all_teams()
    wanted = [TeamFolder(t.team_dir, t.gid) for t in found]
    try:
        done, refused = ensure_team_folders(where, wanted, create_root=create_root)
    except TeamsRootError as exc:
        click.echo(f"error: {exc} (give --create-root, or mount it)", err=True)
        sys.exit(EXIT_CONFIG)
    emit(
        {
            "root": str(where),
            "teams": [{"team_dir": d.team_dir, "gid": d.gid, "action": d.action} for d in done],
            "refused": refused,
        },
        as_json,
    )
    if refused:
        sys.exit(EXIT_PARTIAL)
