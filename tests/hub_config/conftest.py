"""Fixtures for the hub-side tests: the OIDC stand-in and one hub + quota service stack."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.support.oidc import OidcProvider
from tests.support.processes import TEST_OUTPUT

from .stack import NexusStack, start_stack


@pytest.fixture(scope="module")
def stack(oidc_provider: OidcProvider, request: pytest.FixtureRequest) -> Iterator[NexusStack]:
    """Hub (hub_config, local spawner) + the real quota service, fail mode closed."""
    workdir = TEST_OUTPUT / "hub_config" / request.module.__name__.rsplit(".", 1)[-1]
    shutil.rmtree(workdir, ignore_errors=True)
    st = start_stack(workdir, oidc_provider)
    try:
        yield st
    finally:
        st.stop()
