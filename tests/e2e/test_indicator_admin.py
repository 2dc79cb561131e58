"""Browser flow: the city adapts the demo system, versions it, checks and publishes."""

from __future__ import annotations

import uuid

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from app.extensions import db
from app.models import Indicator, IndicatorSystem
from app.services.demo_data import INDICATOR_SYSTEM
from app.services.indicator_workbook import COLUMNS
from tests.e2e.conftest import assert_clean, screenshot, sign_in

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


def stored_versions(live_app, code: str) -> list[tuple[int, bool, object]]:
    """Return (version, published, points of A1) of every version of a code."""
    with live_app.app_context():
        rows = db.session.execute(
            select(IndicatorSystem.version, IndicatorSystem.published, Indicator.points)
            .join(Indicator, Indicator.system_id == IndicatorSystem.id)
            .where(IndicatorSystem.code == code, Indicator.code == "A1")
            .order_by(IndicatorSystem.version)
        ).all()
        db.session.remove()
    return [tuple(row) for row in rows]


def bad_workbook(path) -> str:
    """Write a workbook whose second indicator row has no number for its points."""
    book = Workbook()
    sheet = book.active
    sheet.title = "指标"
    sheet.append([column.header for column in COLUMNS])
    sheet.append(["A", "组织领导", None, "基础"])
    sheet.append(["A1", "班子专题研究", "A", None, "五分"])
    sheet.append(["A2", "年度计划", "Q", None, 5])
    book.save(path)
    return str(path)


def edit_points(page, code: str, points: str) -> None:
    """Open an indicator's form from the tree, change its points and save."""
    page.locator(f"tr[data-code='{code}'] a[data-action='edit']").click()
    page.fill("#points", points)
    page.click("#indicator-submit")


def test_city_versions_the_demo_system_checks_and_publishes(
    page, page_log, live_server, live_app, demo_password, tmp_path
):
    """Copy, publish, new version, a failing check, a refused workbook, the fix."""
    # Codes after WMDW keep the demo system first in every cycle form.
    code = f"ZCITY-{uuid.uuid4().hex[:6].upper()}"
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, live_server, "city", demo_password)
    page.goto(f"{live_server}/?lang=en")
    page.click("nav >> text=Indicator systems")
    assert "read-only for your office" in page.inner_text("[data-code='WMDW']")

    page.click("#new-system")
    page.fill("#code", code)
    page.select_option("#office_id", label="某市文明办")
    page.select_option(
        "#start_from", label=f"{INDICATOR_SYSTEM['name']} (WMDW v1, published)"
    )
    page.fill("#name", f"某市文明单位测评体系 {code}")
    page.click("#system-submit")
    expect(page.locator("#checks-pass")).to_be_visible()
    page.click("#publish")
    expect(page.locator(".flashes")).to_contain_text("Version 1 is published")

    page.click("#new-version")
    expect(page.locator(".flashes")).to_contain_text("Version 2 is a draft")
    edit_points(page, "A1", "6")
    expect(page.locator("tr[data-code='A1'] [data-col='points']")).to_have_text("6")
    expect(page.locator("#problems")).to_contain_text(
        "the base indicators add up to 101 points, not the 100"
    )
    page.click("#publish")
    expect(page.locator(".flashes")).to_contain_text("Version 2 was not published")
    screenshot(page, "indicator-check-failed")

    page.set_input_files("#workbook", bad_workbook(tmp_path / "bad.xlsx"))
    page.click("#import-submit")
    errors = page.locator("#import-errors")
    expect(errors).to_contain_text("row 3, column 分值: enter a number")
    expect(errors).to_contain_text(
        "row 4, column 所属类别: no category Q above this row"
    )
    assert page.inner_text("tr[data-code='A1'] [data-col='points']") == "6"
    screenshot(page, "indicator-import-refused")
    # The refused import answered 422 on purpose.
    page_log.failed_requests = [
        line
        for line in page_log.failed_requests
        if not (line.startswith("422 ") and line.endswith("/import"))
    ]

    edit_points(page, "A1", "5")
    expect(page.locator("#checks-pass")).to_be_visible()
    page.click("#publish")
    expect(page.locator(".flashes")).to_contain_text("Version 2 is published")
    expect(page.locator("#publish")).to_have_count(0)
    page.click("text=All indicator systems")
    row = page.locator(f"[data-code='{code}'] .indicator-version[data-version='2']")
    expect(row).to_have_attribute("data-published", "true")
    screenshot(page, "indicator-systems")

    assert stored_versions(live_app, code) == [(1, True, 5), (2, True, 5)]
    assert stored_versions(live_app, "WMDW") == [(1, True, 5)]
    assert_clean(page_log)
