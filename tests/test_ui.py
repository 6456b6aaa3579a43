"""The Prefect UI shows a run of the daily flow and its artifacts, in headless Chromium.

Chromium comes from Debian (``make ui-deps``, or this module's fixture when it is
missing) and Playwright's Python package drives it through ``executable_path``;
nothing downloads a browser build.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.trends import daily_trends
from tasks.artifacts import SUMMARY_KEY, TOP_TRENDS_KEY
from tests.fake_x_api import FakeXApi, Reply
from tests.prefect_server import PrefectServer

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_TIMEOUT = 900
PAGE_TIMEOUT_MS = 20_000


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed with apt when it is missing."""
    if not CHROMIUM.exists() and shutil.which("apt-get"):
        subprocess.run(
            ["make", "ui-deps"],
            cwd=Path(__file__).resolve().parent.parent,
            check=False,
            timeout=INSTALL_TIMEOUT,
        )
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium could not be installed here (make ui-deps)")
    return CHROMIUM


# Module scope: Playwright's sync API keeps an event loop running in this thread
# until it stops, and the tests after this module call asyncio.run().
@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=["--no-sandbox"]
        )
        yield browser
        browser.close()


@pytest.mark.usefixtures("trends_env")
def test_the_ui_shows_a_daily_run_and_its_artifacts(
    prefect_server: PrefectServer,
    fake_x_api: FakeXApi,
    browser: Browser,
    tmp_path: Path,
) -> None:
    fake_x_api.always(4118, Reply.trends("#TorontoUi", "#Second"))
    with temporary_settings({PREFECT_API_URL: prefect_server.api_url}):
        state = daily_trends(
            locations=[4118],
            as_of=datetime(2026, 12, 3, 21, tzinfo=UTC),
            return_state=True,
        )
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(f"{prefect_server.url}/runs/flow-run/{flow_run_id}")
    expect(page.get_by_text("Completed").first).to_be_visible()
    # The UI's tabs are list items with the section's id, not ARIA tabs.
    page.locator("li.p-tab#artifacts").click()
    expect(page.get_by_text(SUMMARY_KEY).first).to_be_visible()
    expect(page.get_by_text(TOP_TRENDS_KEY).first).to_be_visible()
    screenshot = tmp_path / "flow-run-artifacts.png"
    page.screenshot(path=str(screenshot), full_page=True)
    page.get_by_text(SUMMARY_KEY).last.click()
    expect(page.get_by_text("Toronto").first).to_be_visible()
    content = tmp_path / "trends-summary-artifact.png"
    page.screenshot(path=str(content), full_page=True)
    page.go_back()
    page.locator("li.p-tab#artifacts").click()
    page.get_by_text(TOP_TRENDS_KEY).last.click()
    expect(page.get_by_text("#TorontoUi").first).to_be_visible()
    top = tmp_path / "trends-top-artifact.png"
    page.screenshot(path=str(top), full_page=True)
    page.close()

    assert all(shot.stat().st_size > 0 for shot in (screenshot, content, top))
    print(f"Screenshots of the flow run's artifacts: {screenshot}, {content}, {top}")
