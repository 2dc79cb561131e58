"""Browser flow: a liaison records an activity, then attaches it to a submission."""

from __future__ import annotations

from io import BytesIO

import pytest
from PIL import Image
from sqlalchemy import select

from app.extensions import db
from app.models import HumanTask, Unit
from tests.e2e.conftest import (
    ARTIFACTS_DIR,
    assert_clean,
    issue_county_cycle,
    screenshot,
    sign_in,
)

pytestmark = pytest.mark.browser

# The tax bureau alone gets this cycle, so other tests keep their demo tasks.
UNIT = "taxbureau"
UNIT_TYPE = "government"
CYCLE_NAME = "台账专项检查"
TITLE = "诚信纳税宣传进企业"
NARROW_VIEWPORT = {"width": 375, "height": 740}


def open_cycle_for_the_unit(live_app) -> int:
    """Open and issue a cycle to the government units only; return its task id."""
    with live_app.app_context():
        session = db.session
        cycle = issue_county_cycle(
            session, CYCLE_NAME, (10, 20, 25, 30), unit_types=[UNIT_TYPE]
        )
        task_id = session.scalars(
            select(HumanTask.id)
            .join(Unit, Unit.id == HumanTask.unit_id)
            .where(
                Unit.code == UNIT,
                HumanTask.cycle_id == cycle.id,
                HumanTask.form_key == "unit_submission",
            )
        ).one()
        session.remove()
    return task_id


def screenshot_dir():
    """Return the folder of the screenshots, made if missing."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    return ARTIFACTS_DIR


def photo_file(tmp_path, taken: str) -> str:
    """Write a JPEG whose EXIF records when it was taken; return its path."""
    image = Image.new("RGB", (320, 240), (30, 120, 200))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = taken
    out = BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    path = tmp_path / "宣传现场.jpg"
    path.write_bytes(out.getvalue())
    return str(path)


def test_liaison_records_an_entry_and_attaches_it_to_a_submission(
    page, page_log, live_server, live_app, demo_password, tmp_path
):
    """Record with a photo, find it in the calendar, tick it on the task, save."""
    task_id = open_cycle_for_the_unit(live_app)
    sign_in(page, live_server, UNIT, demo_password)
    page.goto(f"{live_server}/ledger/new?lang=en")
    today = page.input_value("#occurred_on")
    page.select_option("#indicator_id", label="B3 诚信建设")
    page.fill("#title", TITLE)
    page.fill("#description", "到辖区企业宣讲诚信纳税政策。")
    page.fill("#participants", "12")
    page.fill("#volunteer_hours", "24")
    page.fill("#place", "经济开发区")
    taken = today.replace("-", ":") + " 09:30:00"
    page.set_input_files("#files", [photo_file(tmp_path, taken)])
    page.click("#entry-submit")
    page.wait_for_load_state()

    assert page.inner_text("#entry-title").startswith(TITLE)
    assert f"{today} 09:30" in page.inner_text(".ledger-file__captured")
    assert page.evaluate(
        "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
    )
    screenshot(page, "ledger-entry")

    page.click("text=Back to the ledger")
    page.click(".ledger-nav >> text=Calendar")
    day = page.locator(f".ledger-day[data-day='{today}']")
    assert TITLE in day.inner_text()
    screenshot(page, "ledger-calendar")
    page.set_viewport_size(NARROW_VIEWPORT)
    assert day.is_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= 375")
    screenshot(page, "ledger-calendar-narrow")

    page.goto(f"{live_server}/tasks/{task_id}")
    offer = page.locator("[data-ledger-offers='B3'] label", has_text=TITLE)
    offer.locator("input[type=checkbox]").check()
    page.click("#save-draft")
    page.wait_for_load_state()

    section = page.locator("section[data-indicator='B3']")
    assert section.locator(".evidence__item img.evidence__preview").count() == 1
    assert f"from ledger: {TITLE} ({today})" in section.inner_text()
    assert offer.locator("input[type=checkbox]").is_checked()
    section.screenshot(path=str(screenshot_dir() / "ledger-attached-to-submission.png"))
    assert_clean(page_log)


def test_office_sees_coverage_and_marks_good_practice(
    page, page_log, live_server, demo_password
):
    """The county opens a coverage cell, then marks the neighbourhood festival."""
    sign_in(page, live_server, "county", demo_password)
    page.goto(f"{live_server}/ledger/coverage?year=2025&lang=en")
    cell = page.locator("tr[data-unit='community'] td[data-indicator='E3']")
    assert cell.get_attribute("data-months") == "1"
    screenshot(page, "ledger-coverage")

    cell.locator("a").click()
    page.click("text=邻里节文艺汇演")
    assert page.locator("#good-practice-badge").count() == 0
    page.click("#toggle-good-practice")
    assert page.locator("#good-practice-badge").is_visible()
    page.goto(f"{live_server}/ledger/")
    page.click("#good-practice-link")
    assert "邻里节文艺汇演" in page.inner_text("#good-practice-list")
    assert_clean(page_log)
