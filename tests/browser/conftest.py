"""Real-browser journeys: Debian's Chromium driven by Playwright against the live server.

The pieces are real: pytest-django's live server (a real HTTP server in a thread of this process, on
the test database), a real Celery worker process on Redis (tests/conftest.py start_worker) and the
real local SMTP server (tests/smtp.py). Chromium is Debian's package (/usr/bin/chromium, installed
by .ci/run), driven by the playwright package's bundled driver: no browser download. Without it the
journeys skip locally and fail in CI, like every service test (tests/conftest.py
service_unavailable).

Playwright's sync API keeps an asyncio event loop running in this thread while it is started, and
Django refuses every ORM call made while a loop runs (SynchronousOnlyOperation), test set-up
included. DJANGO_ALLOW_ASYNC_UNSAFE lifts that check, so it is set only while Playwright runs: the
Playwright fixtures below are package-scoped (pytest-playwright's are session-scoped), so the browser
stops, the loop ends and the variable is removed when the last test of this package has run; no
other test of the suite runs with the check off.

A journey that fails leaves a full-page screenshot at var/screenshots/<test name>.png.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserType, Page, Playwright, expect, sync_playwright

from tests.conftest import ROOT
from tests.services import service_unavailable

CHROMIUM = Path(os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium"))
# The flags that keep Debian's Chromium quiet on a closed network (it otherwise dials out for
# updates, sync and field trials at every start and is refused, many times over). No --user-data-dir:
# Playwright makes a fresh profile itself and refuses the flag.
CHROMIUM_FLAGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "var" / "screenshots"
# Generous but bounded: the 2-core CI machine runs a worker beside the browser; a broken page fails
# in seconds instead of hanging the suite.
TIMEOUT_MS = 20_000


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the journeys last.

    pytest-django runs the tests that share the database's transaction first and the transactional
    ones (which commit, then flush the data migrations' rows away) after them. pytest-playwright
    parametrizes every test that asks for `page` by a session-scoped browser name, and pytest then
    pulls all tests with that parameter together, which can move the journeys ahead of plain
    database tests. Last is always safe, and the slowest tests report last.
    """
    here = Path(__file__).parent
    journeys = [item for item in items if here in item.path.parents]
    items[:] = [item for item in items if here not in item.path.parents] + journeys


# --- Playwright, for this package only --------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """pytest-playwright's launch options (--headed, --slowmo) plus Debian's Chromium and its flags."""
    if not CHROMIUM.exists():
        service_unavailable(
            f"browser tests need Debian's Chromium at {CHROMIUM} "
            "(apt-get install --no-install-recommends chromium; .ci/run does it)"
        )
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_FLAGS}


@pytest.fixture(scope="package")
def playwright(browser_type_launch_args: dict) -> Iterator[Playwright]:
    # Asking for the launch options first skips (or fails in CI) before anything starts.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    pw = sync_playwright().start()
    try:
        yield pw
    finally:
        pw.stop()
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="package")
def browser_type(playwright: Playwright, browser_name: str) -> BrowserType:
    if browser_name != "chromium":
        pytest.skip("the journeys run in Debian's Chromium only")
    return playwright.chromium


@pytest.fixture(scope="package")
def browser(browser_type: BrowserType, browser_type_launch_args: dict) -> Iterator[Browser]:
    browser = browser_type.launch(**browser_type_launch_args)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="package")
def browser_context_args() -> dict:
    # Downloads are kept so a journey can read the file it exported.
    return {"accept_downloads": True, "locale": "en-GB"}


@pytest.fixture
def page(context) -> Page:
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.set_default_navigation_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    return page


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call" and report.failed:
        page = getattr(item, "funcargs", {}).get("page")
        if page is not None and not page.is_closed():
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "-", item.name).strip("-")  # test_x[chromium]
            path = SCREENSHOTS / f"{name}.png"
            try:
                page.screenshot(path=path, full_page=True, timeout=10_000)
            except Exception as exc:  # the report keeps the test's own failure either way
                report.sections.append(("screenshot", f"no screenshot: {exc}"))
            else:
                report.sections.append(("screenshot", str(path)))
    return report


# --- The site under test ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _migrated_groups(migrated_groups) -> None:
    """Every journey commits (the live server and the worker must see its rows), so each one's
    database is flushed afterwards, taking the migrations' groups with it: see migrated_groups."""


@pytest.fixture
def site(live_server, settings, clear_cache) -> str:
    """The live server's base URL, which is also the SITE_URL that mailed links point at."""
    settings.SITE_URL = live_server.url
    return live_server.url
