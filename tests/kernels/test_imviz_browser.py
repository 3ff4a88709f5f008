"""Imviz renders in the browser: JupyterLab from .venv-lab, the Research Nexus kernel, Chromium."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import launch
from tests.support.kernels import JUPYTER_DATA, LAB_VENV, RRN, RomanData, require_kernel
from tests.support.processes import TEST_OUTPUT, ServerProcess, free_port

pytestmark = [pytest.mark.kernels, pytest.mark.browser, pytest.mark.integration]

READY_MS = int(os.environ.get("NEXUS_IMVIZ_TIMEOUT_MS", "180000"))


@pytest.fixture
def lab(tmp_path: Path, roman_data: RomanData) -> Iterator[tuple[str, str, Path]]:
    require_kernel(RRN)
    home = tmp_path / "home"
    home.mkdir()
    token = secrets.token_hex(16)
    port = free_port()
    proc = ServerProcess(
        name="jupyterlab",
        argv=[
            str(LAB_VENV / "bin" / "jupyter-lab"),
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={home}",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        log_path=TEST_OUTPUT / "logs" / f"jupyterlab-{port}.log",
        env={
            "HOME": str(home),
            "JUPYTER_PATH": str(JUPYTER_DATA),
            "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
            **roman_data.endpoint.env(),
        },
        cwd=home,
    ).start()
    url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_http(f"{url}/api/status?token={token}", timeout=120)
        yield url, token, home
    finally:
        proc.stop()


def test_imviz_renders_in_jupyterlab(lab: tuple[str, str, Path], roman_data: RomanData) -> None:
    from playwright.sync_api import sync_playwright

    url, token, home = lab
    cal = next(f["path"] for f in roman_data.files if f["name"].endswith("_cal.asdf"))
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": (
                    "from jdaviz import Imviz\n"
                    "imviz = Imviz()\n"
                    f"imviz.load_data({cal!r}, data_label='wfi01')\n"
                    "imviz.show()"
                ),
            }
        ],
        "metadata": {
            "kernelspec": {
                "name": RRN,
                "display_name": "Roman Research Nexus",
                "language": "python",
            }
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (home / "imviz.ipynb").write_text(json.dumps(notebook))
    shot = TEST_OUTPUT / "screenshots" / "imviz-in-jupyterlab.png"
    shot.parent.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                page.goto(f"{url}/lab/tree/imviz.ipynb?token={token}")
                page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
                # the kernel is up when the status bar says so
                page.wait_for_selector(
                    ".jp-StatusBar-Widget >> text=Roman Research Nexus | Idle", timeout=180_000
                )
                page.click(".lm-MenuBar-itemLabel:text-is('Run')")
                page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
                page.wait_for_selector(".jp-InputPrompt:text('[1]')", timeout=READY_MS)
                page.wait_for_selector(".jp-OutputArea-output .v-application", timeout=READY_MS)
                # the image viewer inside the app: a bqplot figure with an image layer
                page.wait_for_selector(".jp-OutputArea-output .bqplot", timeout=READY_MS)
                page.wait_for_timeout(2000)
            finally:
                page.screenshot(path=str(shot))
                outputs = (
                    page.inner_text(".jp-Notebook")
                    if page.query_selector(".jp-Notebook")
                    else page.content()[:3000]
                )
                (shot.with_suffix(".txt")).write_text(outputs)
        finally:
            browser.close()
    for failure in ("Error displaying widget", "Failed to load model class", "Traceback"):
        assert failure not in outputs, outputs[:2000]
    assert os.path.getsize(shot) > 10_000
