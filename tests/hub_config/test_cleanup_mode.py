"""Over the hard home quota (measured by the real scanner): the server still starts, at the
smallest size, in clean-up mode with a visible notice. Nobody is locked out of their files.

Entry's home quota is made tiny (1/2 KiB) with a policy file for this module's quota service,
so a small real file puts the user over it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from quota_service.policy.loader import default_policy_text
from tests.support.oidc import OidcProvider, OidcUser
from tests.support.processes import TEST_OUTPUT

from .stack import NexusStack, start_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(oidc_provider: OidcProvider) -> Iterator[NexusStack]:
    base = TEST_OUTPUT / "hub_config" / "cleanup"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    doc = yaml.safe_load(default_policy_text())
    doc["tiers"]["entry"]["home_quota_gib"] = {"soft": 1 / 1024**2, "hard": 2 / 1024**2}
    policy = base / "tiny-entry-quota.yaml"
    policy.write_text(yaml.safe_dump(doc))
    st = start_stack(
        base / "stack", oidc_provider, quota_env={"NEXUS_QUOTA_POLICY_PATH": str(policy)}
    )
    try:
        yield st
    finally:
        st.stop()


def test_over_the_storage_quota_starts_in_cleanup_mode_with_a_notice(stack: NexusStack) -> None:
    """Measured over the hard quota by the real scanner: the smallest size, a visible notice."""
    stack.provider.set_user(OidcUser("carl", groups=["myst-users"]))
    browser = stack.login("carl")
    home: Path = stack.hub.state_dir.resolve() / "homes" / "carl"
    home.mkdir(parents=True, exist_ok=True)
    (home / "big.fits").write_bytes(b"\0" * 64 * 1024)
    scan = subprocess.run(
        [sys.executable, "-m", "quota_service.cli.main", "scan", "--json", "--workers", "1"],
        env={
            "NEXUS_QUOTA_DATABASE_URL": stack.db_url,
            "NEXUS_QUOTA_STORAGE_ROOT": str(home.parent),
            "NEXUS_QUOTA_SCRATCH_ROOT": str(stack.hub.state_dir.resolve() / "scratch"),
            "NEXUS_QUOTA_POLICY_PATH": str(stack.workdir.parent / "tiny-entry-quota.yaml"),
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert scan.returncode == 0, scan.stderr
    hook = stack.hub.api(stack.tokens["hook"])
    ent = hook.get(stack.quota_api_url + "hub/users/carl/entitlements").json()
    assert ent["cleanup_mode"] is True, (ent["storage"], scan.stdout)

    page = stack.spawn_page(browser)
    assert 'value="small"' in page.text and 'value="medium"' not in page.text
    assert "clean-up mode" in page.text
    resp = stack.spawn(browser, {"profile": "medium"})
    assert resp.status_code == 302, resp.text[-2000:]
    stack.wait_ready("carl")
    try:
        env = stack.server_env("carl")
        assert env["NEXUS_CLEANUP_MODE"] == "1"
        assert env["NEXUS_SIZE"] == "small"
        assert env["CPU_LIMIT"] == "2.0"
        assert "hard quota" in env["NEXUS_NOTICE"]
        assert "hard quota" in (home / "NEXUS-NOTICE.txt").read_text()
        assert (home / "big.fits").exists()  # nobody is locked out of their own files
        home_page = browser.get(f"{stack.hub.url}/hub/home")
        assert "clean-up mode" in home_page.text
    finally:
        stack.stop_server("carl")
