"""The daily deployments run at 16:00 Toronto time on both sides of a DST change."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from prefect.server.schemas.schedules import CronSchedule

from tests.project_files import deployment

TORONTO = ZoneInfo("America/Toronto")
DAILY_DEPLOYMENTS = ("daily-trends-ecs", "daily-trends-process")


def schedule_of(name: str) -> CronSchedule:
    (entry,) = deployment(name)["schedules"]
    return CronSchedule(cron=entry["cron"], timezone=entry["timezone"])


def next_runs(schedule: CronSchedule, start: datetime, count: int) -> list[datetime]:
    return list(asyncio.run(schedule.get_dates(n=count, start=start)))


@pytest.mark.parametrize("name", DAILY_DEPLOYMENTS)
@pytest.mark.parametrize(
    ("start", "utc_hours"),
    [
        # EDT (UTC-4) ends on 2026-11-01: 20:00 UTC before it, 21:00 UTC after.
        (datetime(2026, 10, 30, 12, tzinfo=TORONTO), [20, 20, 21, 21]),
        # EST (UTC-5) ends on 2027-03-14: 21:00 UTC before it, 20:00 UTC after.
        (datetime(2027, 3, 12, 12, tzinfo=TORONTO), [21, 21, 20, 20]),
    ],
)
def test_daily_runs_stay_at_four_pm_toronto_across_daylight_saving(
    name: str, start: datetime, utc_hours: list[int]
) -> None:
    runs = next_runs(schedule_of(name), start, count=4)

    assert [run.astimezone(TORONTO).hour for run in runs] == [16] * 4
    assert [run.astimezone(UTC).hour for run in runs] == utc_hours
    days = [run.astimezone(TORONTO).date() for run in runs]
    assert days == [days[0] + timedelta(days=offset) for offset in range(4)]


def test_the_backfill_deployment_has_no_schedule() -> None:
    assert not deployment("backfill").get("schedules")
