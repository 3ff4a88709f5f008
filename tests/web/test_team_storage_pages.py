"""The consortium page's storage figures and the admin console's removal, over HTTP: a real
quota service behind a real hub, a team folder of real files with real owners (os.chown),
scanned into the stack's database by the scan job."""

from __future__ import annotations

import os
import re
from pathlib import Path

from hub_config.userdirs import directory_name
from quota_service.config import Settings, TeamSettings
from quota_service.factory import Factory
from quota_service.jobs.purge_common import StorageConfig
from quota_service.jobs.scan import StorageService
from tests.support.consortia import create_consortium
from tests.support.quota_tokens import quota_admin_token

from .stack import WebStack
from .test_pages import form_post

BLOCK = 4096
ROW = re.compile(
    r'<tr data-member="([^"]+)" data-home-bytes="(\d+)" data-team-bytes="(\d+)">\s*'
    r'<td>[^<]*</td><td class="num">(\d+)</td>'
)


def write(path: Path, size: int, uid: int, gid: int) -> None:
    path.write_bytes(b"x" * size)
    os.chown(path, uid, gid)


def test_the_lead_sees_usage_per_member_and_an_admin_removes_the_team(
    web_stack: WebStack, tmp_path: Path
) -> None:
    lead, member = "tsp-lead", "tsp-member"
    web_stack.user_token(lead)
    web_stack.user_token(member)
    admin_token = quota_admin_token(web_stack, "tsp-admin")
    with web_stack.api(admin_token) as api:
        cid = create_consortium(api, "tsp-team", [lead], home_quota_gib=(1, 2))
        added = api.post(
            f"consortia/{cid}/members", json={"username": member, "cpu_hours_share": 10}
        )
        assert added.status_code == 201, added.text

    # The scan job, on the stack's database, over real homes and a real team folder.
    homes, teams = tmp_path / "homes", tmp_path / "teams"
    settings = Settings(
        database_url=web_stack.db_url, storage_root=homes, teams=TeamSettings(root=teams)
    )
    factory = Factory(settings)
    try:
        with factory.unit_of_work() as svc:
            team_dir, gid = svc.teams.identity(svc.consortia._get(cid))
            uid = {n: svc.teams.uid_of(svc.users.get(n)) for n in (lead, member)}
        folder = teams / team_dir
        folder.mkdir(parents=True)
        os.chown(folder, 0, gid)
        os.chmod(folder, 0o3770)
        write(folder / "lead.fits", 40960, uid[lead], gid)
        write(folder / "member.fits", 81920, uid[member], gid)
        for name, size in ((lead, 8192), (member, 12288)):
            (homes / directory_name(name)).mkdir(parents=True)
            write(homes / directory_name(name) / "notes.txt", size, uid[name], 100)
        report = StorageService(factory, StorageConfig.from_settings(settings)).scan(workers=1)
        assert [(t.team_dir, t.bytes) for t in report.teams] == [(team_dir, BLOCK + 40960 + 81920)]
    finally:
        factory.dispose()

    page = f"consortia/{cid}"
    with web_stack.pages(web_stack.user_token(lead)) as client:
        html = client.get(page).text
    rows = {m[0]: (int(m[1]), int(m[2]), int(m[3])) for m in ROW.findall(html)}
    assert rows == {
        lead: (BLOCK + 8192, 40960, uid[lead]),
        member: (BLOCK + 12288, 81920, uid[member]),
    }
    totals = re.search(
        r'id="team-storage" data-total-bytes="(\d+)" data-team-bytes="(\d+)" '
        r'data-homes-bytes="(\d+)" data-hard-bytes="(\d+)"',
        html,
    )
    assert totals is not None
    team_bytes = BLOCK + 40960 + 81920
    homes_bytes = 2 * BLOCK + 8192 + 12288
    assert [int(g) for g in totals.groups()] == [
        team_bytes + homes_bytes,
        team_bytes,
        homes_bytes,
        2 * 1024**3,
    ]
    assert f"/teams/{team_dir}" in html
    assert 'data-owner-uid="0" data-team-bytes="4096"' in html  # the folder itself
    # The same figures in the JSON API; a member (not a lead) sees neither.
    with web_stack.api(web_stack.user_token(lead)) as api:
        storage = api.get(page).json()["storage"]
    assert {m["username"]: m["team_bytes"] for m in storage["members"]} == {
        lead: 40960,
        member: 81920,
    }
    with web_stack.pages(web_stack.user_token(member)) as client:
        assert client.get(page).status_code == 403

    # The admin console removes the consortium (a token acts at once; a form needs a reason).
    with web_stack.pages(admin_token) as admin:
        console = admin.get("admin").text
        assert f'action="/services/quota/admin/consortia/{cid}/remove"' in console
        no_reason = form_post(
            admin, f"admin/consortia/{cid}/remove", {"reason": "", "back": ""}, page="admin"
        )
        assert no_reason.status_code == 422
        removed = form_post(
            admin,
            f"admin/consortia/{cid}/remove",
            {"reason": "tsp proposal withdrawn", "back": "/services/quota/admin#consortia"},
            page="admin",
        )
        assert removed.status_code == 303, removed.text
        assert 'id="removed"' in admin.get(page).text
    # Its lead can no longer manage it; nothing was deleted.
    with web_stack.pages(web_stack.user_token(lead)) as client:
        assert client.get(page).status_code == 403
    assert sorted(os.listdir(folder)) == ["lead.fits", "member.fits"]
