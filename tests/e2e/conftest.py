"""Browser harness: the demo served on a live port and driven by headless Chromium."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db
from app.models import Base, Cycle, IndicatorSystem, Office, utcnow
from app.services import cycles, demo
from app.services.base import transaction
from app.services.demo_data import INDICATOR_SYSTEM
from processes.registry import SPEC_CACHE
from tests.factories import deploy_shipped

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = PROJECT_ROOT / "test-artifacts"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP_VIEWPORT = {"width": 1280, "height": 800}
# Chromium's error for a load the page itself dropped, e.g. when a link was followed.
NAVIGATED_AWAY = "net::ERR_ABORTED"
CSP_PATTERN = re.compile(r"content security policy", re.IGNORECASE)


@dataclass
class PageLog:
    """What the browser reported while a test ran: console lines and failed loads."""

    console: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        """Return the console lines that report a content security policy block."""
        return [line for line in self.console if CSP_PATTERN.search(line)]

    def load_failures(self) -> list[str]:
        """Return the failed loads, leaving out the request each download ends."""
        ended = {_failed_line(url, NAVIGATED_AWAY) for url in self.downloads}
        return [line for line in self.failed_requests if line not in ended]


def sign_in(page, live_server: str, username: str, password: str) -> None:
    """Sign in through the real login form, as a fresh visitor."""
    page.context.clear_cookies()
    page.goto(f"{live_server}/auth/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#submit")
    page.wait_for_load_state()


def assert_clean(page_log: PageLog) -> None:
    """Fail on content security policy violations and failed page resources."""
    assert page_log.csp_violations() == []
    assert page_log.load_failures() == []


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as test-artifacts/<name>.png and return its path."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    path = ARTIFACTS_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def issue_county_cycle(
    session: Session, name: str, due_in_days: tuple[int, int, int, int], **choice
) -> Cycle:
    """Open and issue a demo county cycle due in (submission, county, city,
    province) days; keyword arguments choose its units."""
    county = session.scalars(select(Office).where(Office.code == "X01")).one()
    system = session.scalars(
        select(IndicatorSystem).where(IndicatorSystem.code == INDICATOR_SYSTEM["code"])
    ).first()
    now = utcnow().replace(microsecond=0)
    submission, county_review, city_review, province_review = (
        now + timedelta(days=days) for days in due_in_days
    )
    with transaction(session):
        cycle = cycles.open_cycle(
            session,
            office=county,
            name=name,
            indicator_system=system,
            submission_due=submission,
            county_review_due=county_review,
            city_review_due=city_review,
            province_review_due=province_review,
            **choice,
        )
    cycles.issue_cycle(session, cycle)
    return cycle


def _require(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required when CI is set)")
    pytest.skip(reason)


def chromium_path() -> str:
    """Return the Chromium to drive: WENMING_CHROMIUM, else /usr/bin/chromium."""
    path = os.environ.get("WENMING_CHROMIUM") or DEFAULT_CHROMIUM
    if not Path(path).is_file():
        _require(
            f"no Chromium at {path}; install Debian's chromium package "
            "or set WENMING_CHROMIUM"
        )
    return path


@pytest.fixture(scope="session")
def live_app(tmp_path_factory) -> Iterator[Flask]:
    """Return the app on a fresh SQLite file with the shipped diagrams and demo."""
    root = tmp_path_factory.mktemp("live")
    SPEC_CACHE.clear()
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{root / 'wenming.db'}",
            "SECRET_KEY": "browser-test-secret",
            "WENMING_UPLOAD_FOLDER": str(root / "uploads"),
            "WENMING_SCHEDULER": "off",
            "INSTANCE_PATH": str(root / "instance"),
        }
    )
    with app.app_context():
        Base.metadata.create_all(db.engine)
        _load_demo(app)
        db.session.remove()

    yield app

    with app.app_context():
        db.engine.dispose()
    SPEC_CACHE.clear()


def _load_demo(app: Flask) -> None:
    session = db.session
    deploy_shipped(session)
    demo.load_demo(
        session,
        password=app.config["WENMING_DEMO_PASSWORD"],
        upload_folder=Path(app.config["WENMING_UPLOAD_FOLDER"]),
    )


@pytest.fixture(scope="session")
def live_server(live_app: Flask) -> Iterator[str]:
    """Serve the demo app on a free local port and yield its base URL."""
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, name="live-server", daemon=True
    )
    thread.start()

    yield f"http://127.0.0.1:{server.server_port}"

    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    """Launch headless Chromium once per run, or skip when none is installed."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require("the playwright package is not installed (pip install -e '.[test]')")
    executable = chromium_path()

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page_log() -> PageLog:
    """Return the record of console lines and failed loads of this test's page."""
    return PageLog()


@pytest.fixture
def page(browser, page_log: PageLog):
    """Open a fresh Chinese-language browser context and page for one test."""
    context = browser.new_context(locale="zh-CN", viewport=DESKTOP_VIEWPORT)
    context.set_default_timeout(10_000)
    new_page = context.new_page()
    new_page.on("console", lambda message: page_log.console.append(_line(message)))
    new_page.on("pageerror", lambda error: page_log.console.append(f"error: {error}"))
    new_page.on("response", lambda response: _note_failure(page_log, response))
    new_page.on("requestfailed", lambda request: _note_failed(page_log, request))
    new_page.on("download", lambda download: page_log.downloads.append(download.url))

    yield new_page

    context.close()


def _note_failed(page_log: PageLog, request) -> None:
    """Note a load that failed, but not one the page dropped by navigating away."""
    if request.failure == NAVIGATED_AWAY and not request.is_navigation_request():
        return
    page_log.failed_requests.append(_failed_line(request.url, request.failure))


def _failed_line(url: str, failure: str) -> str:
    return f"failed {url} ({failure})"


def _line(message) -> str:
    return f"{message.type}: {message.text}"


def _note_failure(page_log: PageLog, response) -> None:
    if response.status >= 400:
        page_log.failed_requests.append(f"{response.status} {response.url}")


@pytest.fixture(scope="session")
def demo_password(live_app: Flask) -> str:
    """Return the password the demo users were created with."""
    return live_app.config["WENMING_DEMO_PASSWORD"]
