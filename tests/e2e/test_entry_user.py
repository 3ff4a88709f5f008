"""An Entry user's afternoon, in a real browser against the whole dev platform (issue 5, §3).

The tests run in order and share one signed-in browser and one server, as a person would:
sign in and start a server, run the data-access tutorial, try to save over it, look at an
image in Imviz, stop the server and see the CPU-hours charged. Screenshots go to
test-output/screenshots/e2e/.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.support.platform import RunningPlatform
from tests.support.processes import poll_until

from .conftest import SCREENSHOTS
from .lab import LabSession

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

L2_KEY = (
    "roman/nexus/soc_simulations/tutorial_data/roman-2026.2/"
    "r0003201001001001004_0001_wfi01_f106_cal.asdf"
)
KERNEL = "Roman Research Nexus"


def first_internet_cell(notebook: Path) -> int | None:
    cells = json.loads(notebook.read_text())["cells"]
    tagged = [i for i, c in enumerate(cells) if "internet" in c.get("metadata", {}).get("tags", [])]
    return tagged[0] if tagged else None


def data_access_tutorial(nexus: RunningPlatform) -> str:
    """The data-access tutorial's path as the user sees it (`tutorials/...`)."""
    root = nexus.settings.tutorials_dir
    found = sorted(root.rglob("data_discovery_and_access.ipynb"))
    assert found, f"no data-access tutorial (data_discovery_and_access.ipynb) under {root}"
    return "tutorials/" + found[0].relative_to(root).as_posix()


def test_a_entry_user_signs_in_sees_entry_sizes_and_streams_roman_metadata(
    ellen: LabSession, nexus: RunningPlatform
) -> None:
    ellen.sign_in()
    sizes = ellen.size_choices()
    ellen.shot("a1-spawn-form-entry-sizes")
    assert sizes == ["small", "medium"]

    ellen.start_server("small")
    ellen.shot("a2-jupyterlab")
    tutorial = data_access_tutorial(nexus)
    s3_log = nexus.settings.log("s3")
    mark = s3_log.stat().st_size

    ellen.open_notebook(tutorial)
    ellen.expect_kernel(KERNEL)
    # Offline, a person runs the cells above the first one tagged "internet".
    ellen.run_offline_cells(first_internet_cell(nexus.settings.tutorials_dir / tutorial[10:]))
    ellen.shot("a3-tutorial-metadata-from-local-s3")
    assert ellen.errors() == ""
    out = ellen.outputs()
    assert "WFI01" in out, out[-2000:]
    # The bytes came from the local S3 just now: moto logged reads of the Level 2 file.
    with s3_log.open("rb") as log:
        log.seek(mark)
        reads = [
            line for line in log.read().decode(errors="replace").splitlines() if L2_KEY in line
        ]
    assert any(f"GET /stpubdata/{L2_KEY}" in line for line in reads), reads


def test_b_saving_over_the_read_only_tutorial_is_refused_and_save_as_works(
    ellen: LabSession, nexus: RunningPlatform
) -> None:
    page = ellen.page
    tutorial = data_access_tutorial(nexus)
    on_disk = nexus.state_dir / "homes" / "ellen" / tutorial
    before = on_disk.read_bytes()

    # JupyterLab marks it read-only; Ctrl+S after a change writes nothing.
    panel = page.locator(".jp-NotebookPanel:visible")
    expect(panel.get_by_text("notebook is read-only", exact=True)).to_be_visible()
    panel.locator(".jp-Cell").first.click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")  # a new cell below: the notebook is now modified
    page.keyboard.press("Control+s")
    page.get_by_role("menuitem", name="File", exact=True).click()
    save = page.get_by_role("menuitem", name=re.compile(r"^Save Notebook(?! As)"))
    expect(save).to_have_attribute("aria-disabled", "true")
    ellen.shot("b1-save-over-tutorial-refused")
    page.keyboard.press("Escape")
    assert on_disk.read_bytes() == before
    # The server refuses too, whatever the page does: a save through the contents API.
    xsrf = next(c["value"] for c in ellen.context.cookies() if c["name"] == "_xsrf")
    api = f"{nexus.url}/user/ellen/api/contents/{tutorial}"
    model = page.request.get(api).json()
    resp = page.request.put(
        api,
        data=json.dumps({"type": "notebook", "format": "json", "content": model["content"]}),
        headers={"X-XSRFToken": xsrf, "Content-Type": "application/json"},
    )
    assert resp.status == 403, resp.text()
    assert "read-only" in resp.text()
    assert on_disk.read_bytes() == before

    # File ▸ Save Notebook As… into the home folder.
    page.get_by_role("menuitem", name="File", exact=True).click()
    page.get_by_role("menuitem", name=re.compile(r"^Save Notebook As")).click()
    name_box = page.locator(".jp-Dialog input")
    expect(name_box).to_be_visible()
    name_box.fill("my-data-access.ipynb")
    ellen.shot("b2-save-as-into-home")
    page.locator(".jp-Dialog").get_by_role("button", name="Save").click()
    copy = nexus.state_dir / "homes" / "ellen" / "my-data-access.ipynb"
    poll_until(copy.exists, 30, message=f"{copy} was not saved")
    assert copy.is_file()
    saved = json.loads(copy.read_text())
    assert "WFI01" in json.dumps(saved["cells"])  # the outputs came along
    assert on_disk.read_bytes() == before
    ellen.shot("b3-saved-copy-open")


def test_c_imviz_renders_a_synthetic_level2_image(
    ellen: LabSession, nexus: RunningPlatform
) -> None:
    home = nexus.state_dir / "homes" / "ellen"
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": (
                    "import s3fs\n"
                    "from jdaviz import Imviz\n"
                    "local = 'scratch/l2_cal.asdf'\n"
                    f"s3fs.S3FileSystem().get('s3://stpubdata/{L2_KEY}', local)\n"
                    "imviz = Imviz()\n"
                    "imviz.load_data(local, data_label='synthetic-L2')\n"
                    "imviz.show()\n"
                    "print('loaded:', imviz.app.data_collection.labels)\n"
                ),
            }
        ],
        "metadata": {
            "kernelspec": {"name": "roman-research-nexus", "display_name": KERNEL},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (home / "imviz-check.ipynb").write_text(json.dumps(notebook))
    ellen.open_notebook("imviz-check.ipynb")
    ellen.expect_kernel(KERNEL)
    ellen.run_all()
    assert ellen.errors() == ""
    viewer = ellen.page.locator(".jp-NotebookPanel:visible .jdaviz")
    expect(viewer.first).to_be_visible(timeout=120_000)
    # The image viewer draws with WebGL onto a canvas inside the widget.
    expect(viewer.first.locator("canvas").first).to_be_visible(timeout=120_000)
    expect(viewer.first).to_contain_text("imviz-0", timeout=60_000)
    assert "synthetic-L2" in ellen.outputs()
    ellen.page.wait_for_timeout(2_000)  # let the image finish drawing for the screenshot
    ellen.shot("c1-imviz-level2-image")


def test_d_stopping_the_server_charges_its_cpu_hours(
    ellen: LabSession, nexus: RunningPlatform
) -> None:
    page = ellen.page
    page.goto(f"{nexus.url}/hub/home")
    page.get_by_role("button", name=re.compile("Stop My Server")).click()
    nexus.wait_no_server("ellen", timeout=90)

    usage = nexus.quota_admin().get("admin/users/ellen")
    usage.raise_for_status()
    entry = [a for a in usage.json()["allocations"] if a["tier"] == "entry"]
    assert len(entry) == 1
    used = float(entry[0]["cpu_hours_used"])
    assert used > 0, usage.json()
    # What the person sees: the spawn form now shows fewer hours left on their Entry allocation.
    page.goto(f"{nexus.url}/hub/spawn")
    form = page.locator("form").first
    expect(form).to_contain_text("CPU-hours left")
    left = float(entry[0]["cpu_hours_left"])
    assert left == pytest.approx(1000 - used)
    assert f"{left:,.1f} CPU-hours left" in form.inner_text()
    ellen.shot("d1-usage-after-stop")


def test_e_user_outside_the_allowed_groups_is_refused_with_a_clear_page(
    browser: Browser, nexus: RunningPlatform
) -> None:
    oscar = LabSession(browser, nexus, "oscar", SCREENSHOTS)
    try:
        with oscar.page.expect_response(re.compile(r".*/hub/oauth_callback.*")) as callback:
            oscar.sign_in()
        assert callback.value.status == 403
        body = oscar.page.locator("body").inner_text()
        oscar.shot("e1-outsider-refused")
        assert "403" in body
        assert re.search(r"not (currently )?(authorized|allowed)", body, re.I), body
    finally:
        oscar.close()
    assert nexus.hub_admin().get("users/oscar").status_code == 404
