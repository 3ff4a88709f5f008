"""Pure pieces of the pages: the forecast, the charts' escaping, the signed session."""

from __future__ import annotations

from datetime import date
from typing import Any

from quota_service.services.forecast import project
from quota_service.web import charts
from quota_service.web.oauth import safe_next
from quota_service.web.session import Signer


def test_forecast_runs_out_at_the_recent_pace() -> None:
    daily = [(date(2026, 6, d), 10.0) for d in range(1, 15)]
    pace, window, runs_out = project(
        budget=1000,
        used=140,
        daily=daily,
        period_start=date(2026, 6, 1),
        period_end=date(2027, 6, 1),
        today=date(2026, 6, 14),
    )
    assert (pace, window) == (10.0, 14)
    assert runs_out == date(2026, 9, 8)  # 860 CPU-hours left at 10 a day: 86 days


def test_forecast_outlasting_the_period_or_idle_says_no_date() -> None:
    args: dict[str, Any] = {
        "budget": 1000.0,
        "period_start": date(2026, 6, 1),
        "today": date(2026, 6, 10),
    }
    assert (
        project(used=10, daily=[(date(2026, 6, 2), 10.0)], period_end=date(2026, 7, 1), **args)[2]
        is None
    )
    assert project(used=0, daily=[], period_end=None, **args) == (0.0, 10, None)
    assert project(used=1000, daily=[], period_end=None, **args)[2] == date(2026, 6, 10)


def test_chart_text_is_escaped() -> None:
    svg = str(charts.bar_chart([("<script>x</script>", 3.0)], title='a"b', unit="<u>"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'aria-label="a&#34;b"' in svg


def test_signed_session_rejects_tampering_and_age() -> None:
    signer = Signer(b"k" * 32, purpose="session")
    value = signer.dumps({"token": "abc"}, now=1000)
    assert signer.loads(value, max_age=60, now=1010) == {"token": "abc"}
    assert signer.loads(value, max_age=60, now=1100) is None
    body, mac = value.split(".")
    assert signer.loads(body + "x." + mac, max_age=60, now=1010) is None
    assert Signer(b"j" * 32, purpose="session").loads(value, max_age=60, now=1010) is None


def test_next_stays_inside_the_service() -> None:
    assert safe_next("/services/quota/admin", "/services/quota/") == "/services/quota/admin"
    for bad in ("https://evil.example/", "//evil.example/x", "/hub/home", None):
        assert safe_next(bad, "/services/quota/") == "/services/quota/"
