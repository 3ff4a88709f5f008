"""The per-person filing limit comes from the settings (`limits.requests_per_day`)."""

from __future__ import annotations

import pytest

from quota_service.config import EdgeLimits, Settings
from quota_service.factory import Factory
from quota_service.limits import RateLimited
from quota_service.models.v1 import RequestIn
from tests.support.clock import FakeClock

JUSTIFICATION = "Forward-modelling Roman WFI images of the Galactic bulge for a paper."


def test_the_filing_limit_is_the_setting(db_url: str) -> None:
    settings = Settings(database_url=db_url, limits=EdgeLimits(requests_per_day=2))
    factory = Factory(settings, clock=FakeClock())
    try:
        for _ in range(2):
            with factory.unit_of_work() as svc:
                filed = svc.requests.create(
                    "filer", RequestIn(tier="research", justification=JUSTIFICATION)
                )
            with factory.unit_of_work() as svc:
                svc.requests.withdraw("filer", filed.id)
        with pytest.raises(RateLimited, match="2 requests in the last 24 hours"):
            with factory.unit_of_work() as svc:
                svc.requests.create(
                    "filer", RequestIn(tier="research", justification=JUSTIFICATION)
                )
    finally:
        factory.dispose()
