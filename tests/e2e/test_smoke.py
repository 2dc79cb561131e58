"""Browser smoke tests: sign-in, home page, phone width, keyboard, language."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.main.views import open_task_count
from app.models import User
from tests.e2e.conftest import assert_clean, screenshot, sign_in

pytestmark = pytest.mark.browser

REVIEWER = "county"
PHONE_WIDTH = 375
MAX_TABS_TO_FORM = 20


@pytest.fixture(scope="module")
def reviewer_task_count(live_app) -> int:
    """Return how many ready tasks the county reviewer may act on in the demo."""
    with live_app.app_context():
        user = db.session.scalars(select(User).where(User.username == REVIEWER)).one()
        count = open_task_count(user)
        db.session.remove()
    return count


def test_reviewer_signs_in_and_sees_open_task_count(
    page, page_log, live_server, demo_password, reviewer_task_count
):
    """The county reviewer signs in through the form and sees their open tasks."""
    sign_in(page, live_server, REVIEWER, demo_password)
    screenshot(page, "home-county-reviewer")

    assert page.url.rstrip("/") == live_server
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    assert reviewer_task_count > 0
    assert str(reviewer_task_count) in page.locator(".task-count").inner_text()
    assert page.evaluate("typeof window.bootstrap") == "object"
    assert_clean(page_log)


def test_home_page_fits_a_phone_screen(page, page_log, live_server, demo_password):
    """At 375 px wide the signed-in home page has no horizontal scroll."""
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 812})
    sign_in(page, live_server, REVIEWER, demo_password)
    screenshot(page, "home-375px")

    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE_WIDTH
    assert page.locator(".task-count").is_visible()
    assert_clean(page_log)


def test_login_form_works_with_keyboard_only(
    page, page_log, live_server, demo_password
):
    """The login form can be reached, filled and submitted with Tab and Enter."""
    page.goto(f"{live_server}/auth/login")

    for _ in range(MAX_TABS_TO_FORM):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "username":
            break
    assert page.evaluate("document.activeElement.id") == "username"
    page.keyboard.type(REVIEWER)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(demo_password)
    screenshot(page, "login-keyboard")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    assert page.url.rstrip("/") == live_server
    assert page.locator(".task-count").is_visible()
    assert_clean(page_log)


def test_language_switch_shows_english(page, page_log, live_server, demo_password):
    """Choosing English in the language switch turns the interface into English."""
    sign_in(page, live_server, REVIEWER, demo_password)
    assert page.locator("h2", has_text="Open tasks").count() == 0

    page.click(".language-switch a[lang='en']")
    page.wait_for_load_state()
    screenshot(page, "home-english")

    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h2", has_text="Open tasks").is_visible()
    assert page.get_by_role("button", name="Sign out").is_visible()
    assert_clean(page_log)


def test_inline_script_is_refused_and_reported(page, page_log, live_server):
    """An inline script added to a page is blocked by the CSP, and the log shows it."""
    page.goto(f"{live_server}/auth/login")

    with page.expect_console_message():
        page.evaluate(
            """() => {
                const script = document.createElement("script");
                script.textContent = "window.inlineRan = true";
                document.body.appendChild(script);
            }"""
        )

    assert page.evaluate("window.inlineRan === undefined")
    assert page_log.csp_violations() != []
