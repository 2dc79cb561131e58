"""Browser: the statistics dashboard draws its charts and opens drill-downs."""

from __future__ import annotations

import pytest

from app.services.demo import CYCLE_NAME
from tests.e2e.conftest import assert_clean, screenshot, sign_in

pytestmark = pytest.mark.browser


def test_dashboard_draws_charts_and_a_number_opens_its_units(
    page, page_log, live_server, demo_password
):
    """County reviewer: charts are drawn without CSP errors; a count lists units."""
    sign_in(page, live_server, "county", demo_password)
    page.goto(f"{live_server}/statistics/")
    # Other browser tests open cycles of their own: look at the demo cycle.
    demo_cycle = page.locator("#s-cycle option", has_text=CYCLE_NAME)
    page.select_option("#s-cycle", demo_cycle.get_attribute("value"))
    page.click("#apply-statistics")
    page.wait_for_load_state()

    page.wait_for_selector("#chart-funnel[data-drawn] svg")
    for chart in ("ontime", "bands", "types", "indicators", "rounds", "trends"):
        assert page.locator(f"#chart-{chart} svg").count() >= 1, chart
    screenshot(page, "statistics-dashboard")

    link = page.locator('#table-funnel a[data-ref="funnel.submitted"]')
    submitted = int(link.inner_text())
    link.click()
    page.wait_for_selector("#drill-title")
    assert page.locator("tr.drill-row").count() == submitted
    assert_clean(page_log)


def test_dashboard_fits_a_phone_screen(page, page_log, live_server, demo_password):
    """At 375 px wide the page does not scroll sideways and still draws charts."""
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in(page, live_server, "city", demo_password)
    page.goto(f"{live_server}/statistics/")

    page.wait_for_selector("#chart-funnel[data-drawn] svg")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
    assert_clean(page_log)
