"""Browser: the archive lists the demo's frozen dossier and shows it on a phone."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import assert_clean, screenshot, sign_in

pytestmark = pytest.mark.browser


def test_archive_opens_the_demo_dossier_on_a_phone(
    page, page_log, live_server, demo_password
):
    """County reviewer at 375 px: the dossier opens, fits, and offers its ZIP."""
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in(page, live_server, "county", demo_password)
    page.goto(f"{live_server}/archives/?unit=幸福社区")

    page.click("#archive-table tbody a")
    page.wait_for_selector(".dossier-final-score")
    assert "城关街道幸福社区" in page.inner_text(".dossier-unit")
    assert page.locator("#download-zip").count() == 1
    assert page.locator("#add-correction").count() == 1
    width = page.evaluate("document.documentElement.scrollWidth")
    screenshot(page, "archive-dossier-phone")
    assert width <= 375
    assert_clean(page_log)
