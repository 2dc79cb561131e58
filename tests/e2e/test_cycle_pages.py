"""Browser flow: the city opens a cycle, watches it issue, and keeps a schedule."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.cycles import views as cycle_views
from app.extensions import db
from app.models import Cycle, CycleSchedule, ProcessInstance, Unit
from tests.e2e.conftest import assert_clean, screenshot, sign_in

pytestmark = pytest.mark.browser

CYCLE_NAME = "2027年度文明单位创建任务"
SCHEDULE_NAME = "季度志愿服务抽查"
ISSUED_TYPES = ("school", "enterprise")


def tasks_per_unit(live_app, cycle_name: str) -> dict[str, int]:
    """Return the number of creation tasks per unit code of the named cycle."""
    with live_app.app_context():
        rows = db.session.execute(
            select(Unit.code, func.count())
            .join(ProcessInstance, ProcessInstance.unit_id == Unit.id)
            .join(Cycle, Cycle.id == ProcessInstance.cycle_id)
            .where(Cycle.name == cycle_name)
            .group_by(Unit.code)
        ).all()
        db.session.remove()
    return dict(rows)


def demo_unit_codes(live_app, unit_types: tuple[str, ...]) -> set[str]:
    """Return the codes of the demo units of these types."""
    with live_app.app_context():
        query = select(Unit.code).where(Unit.unit_type.in_(unit_types))
        codes = set(db.session.scalars(query))
        db.session.remove()
    return codes


def test_city_opens_a_cycle_and_sees_it_issued_batch_by_batch(
    page, page_log, live_server, live_app, demo_password, monkeypatch
):
    """Open from the form; the bar fills one unit at a time until every unit has it."""
    monkeypatch.setattr(cycle_views, "ISSUE_STEP_SIZE", 1)
    steps = []
    page.on(
        "requestfinished",
        lambda request: steps.append(request.url) if "/issue" in request.url else None,
    )
    sign_in(page, live_server, "city", demo_password)

    page.goto(f"{live_server}/?lang=en")
    page.click("nav >> text=Cycles")
    page.click("#open-cycle")
    page.fill("#name", CYCLE_NAME)
    page.select_option("#office_id", label="某市文明办")
    page.fill("#submission_due", "2027-10-31T18:00")
    page.fill("#county_review_due", "2027-11-15T18:00")
    page.fill("#city_review_due", "2027-11-25T18:00")
    page.fill("#province_review_due", "2027-11-30T18:00")
    # Two unit types only: the other demo units keep one task each for other tests.
    for unit_type in ISSUED_TYPES:
        page.check(f"#unit-types input[value='{unit_type}']")
    page.click("#open-submit")

    page.wait_for_selector("#issuance[data-finished='true']")
    units = demo_unit_codes(live_app, ISSUED_TYPES)
    assert page.inner_text("#issue-text") == (
        f"All tasks are issued: {len(units)} of {len(units)} units."
    )
    assert page.eval_on_selector("#issue-progress", "bar => bar.value") == 100
    assert len(steps) >= len(units)
    assert tasks_per_unit(live_app, CYCLE_NAME) == {code: 1 for code in units}
    screenshot(page, "cycle-issued")

    page.click("text=All cycles")
    row = page.locator(".cycles-row", has_text=CYCLE_NAME)
    assert row.locator(".cycles-progress__text").inner_text() == (
        f"{len(units)} / {len(units)}"
    )
    assert_clean(page_log)


def test_city_keeps_a_quarterly_schedule_and_pauses_it(
    page, page_log, live_server, live_app, demo_password
):
    """A quarterly schedule is listed with its next opening, then paused."""
    sign_in(page, live_server, "city", demo_password)
    page.goto(f"{live_server}/cycles/schedules/?lang=en")

    page.click("#new-schedule")
    page.fill("#name", SCHEDULE_NAME)
    page.select_option("#office_id", label="某市文明办")
    page.select_option("#recurrence", "quarterly")
    page.fill("#day", "31")
    page.click("#schedule-submit")
    assert "day must be from 1 to 30 because April has 30 days" in page.inner_text(
        "main"
    )
    assert page.input_value("#name") == SCHEDULE_NAME

    page.fill("#day", "5")
    page.check("#title_levels input[value='county']")
    page.click("#schedule-submit")
    row = page.locator(".schedules-row", has_text=SCHEDULE_NAME)
    assert row.get_attribute("data-active") == "true"
    next_opening = row.locator("[data-col='next']").inner_text()
    assert next_opening[5:16] in {f"{month:02d}-05 08:00" for month in (1, 4, 7, 10)}
    screenshot(page, "cycle-schedules")
    # The refused first try answered 422 on purpose.
    page_log.failed_requests = [
        line for line in page_log.failed_requests if not line.startswith("422 ")
    ]

    row.locator("button", has_text="Pause").click()
    row = page.locator(".schedules-row", has_text=SCHEDULE_NAME)
    assert row.locator("[data-col='next']").inner_text() == "Paused"
    with live_app.app_context():
        stored = db.session.scalars(
            select(CycleSchedule).where(CycleSchedule.name == SCHEDULE_NAME)
        ).one()
        assert (stored.active, stored.title_levels) == (False, ["county"])
        db.session.remove()
    assert_clean(page_log)
