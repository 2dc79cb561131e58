"""Browser flow of the inbox: a county reviewer filters and claims a task."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import assert_clean, screenshot, sign_in

pytestmark = pytest.mark.browser

REVIEWER = "county"
PHONE_WIDTH = 375


def test_county_filters_the_inbox_and_claims_a_task(
    page, page_log, live_server, demo_password
):
    """The county reviewer opens the inbox, filters by deadline and claims a task."""
    sign_in(page, live_server, REVIEWER, demo_password)
    page.click("#notification-bell")
    assert "/inbox/notifications" in page.url

    page.goto(f"{live_server}/inbox/")
    rows = page.locator("tr.inbox-row")
    assert rows.count() > 0
    screenshot(page, "inbox-desktop")

    page.select_option("#f-due", "overdue")
    page.click("#apply-filters")
    page.wait_for_load_state()
    assert "due=overdue" in page.url
    assert page.locator("tr.inbox-row:not([data-overdue])").count() == 0

    page.select_option("#f-due", "")
    page.click("#apply-filters")
    page.wait_for_load_state()
    new_row = page.locator("tr.inbox-row:has([data-state='new'])").first
    task_id = new_row.get_attribute("data-task-id")
    new_row.locator("button[data-action='claim']").click()
    page.wait_for_load_state()

    claimed = page.locator(f"tr.inbox-row[data-task-id='{task_id}']")
    assert claimed.locator("[data-state='claimed-by-me']").is_visible()
    assert page.locator(".flash--success").is_visible()

    page.set_viewport_size({"width": PHONE_WIDTH, "height": 812})
    screenshot(page, "inbox-375px")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE_WIDTH
    assert claimed.locator("button[data-action='unclaim']").is_visible()
    assert_clean(page_log)
