"""Browser: one creation task from submission through rectification to archive."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import HumanTask, Unit, utcnow
from app.services.indicators import catalog_for_cycle
from tests.e2e.conftest import issue_county_cycle, screenshot, sign_in
from tests.e2e.test_task_flow import evidence_files

pytestmark = pytest.mark.browser


def open_urgent_cycle(live_app) -> tuple[int, list]:
    """Open a cycle with near deadlines for the county; return it and its indicators."""
    with live_app.app_context():
        session = db.session
        cycle = issue_county_cycle(session, "专项复查", (5, 8, 12, 15))
        indicators = list(catalog_for_cycle(session, cycle.id).indicators)
        cycle_id = cycle.id
        session.remove()
    return cycle_id, indicators


def hospital_task(live_app, cycle_id: int) -> HumanTask:
    """Return the hospital's ready task of the cycle."""
    with live_app.app_context():
        task = db.session.scalars(
            select(HumanTask)
            .join(Unit, Unit.id == HumanTask.unit_id)
            .where(
                Unit.code == "hospital",
                HumanTask.cycle_id == cycle_id,
                HumanTask.state == "ready",
            )
        ).one()
        db.session.expunge(task)
        db.session.remove()
    return task


def submit_from_inbox(page, live_server, indicators, tmp_path) -> None:
    """Open the first inbox task and submit every answer with its evidence."""
    page.goto(f"{live_server}/inbox/")
    page.locator("tr.inbox-row a").first.click()
    for indicator in indicators:
        if indicator.kind != "base" or indicator.office_only:
            continue
        page.fill(f"#{indicator.code}_self_score", str(indicator.points - 1))
        text = "医院按计划开展创建活动，台账完整，材料齐全。" * 10
        page.fill(
            f"#{indicator.code}_explanation", text[: indicator.max_explanation_chars]
        )
        files = evidence_files(tmp_path, indicator)
        if files:
            page.set_input_files(f"#files_{indicator.code}", files)
    page.click("#complete-task")
    page.wait_for_load_state()


def score_and_decide(page, indicators, decision: str) -> None:
    """Fill every base score on a review form and choose the decision."""
    for indicator in indicators:
        if indicator.kind == "base":
            page.fill(f"#scores_{indicator.code}", str(indicator.points - 1))
    page.check(f"input[name='decision'][value='{decision}']")
    page.fill("#opinion", "材料齐全，同意。" if decision == "approve" else "需整改。")


def test_hospital_task_from_submission_to_archive(
    page, page_log, live_server, live_app, demo_password, tmp_path
):
    """Submit, review with rectification, rectify, verify, re-review, city approves."""
    cycle_id, indicators = open_urgent_cycle(live_app)

    sign_in(page, live_server, "hospital", demo_password)
    submit_from_inbox(page, live_server, indicators, tmp_path)
    assert hospital_task(live_app, cycle_id).bpmn_id == "review_county"

    sign_in(page, live_server, "county", demo_password)
    page.goto(f"{live_server}/inbox/")
    first = page.locator("tr.inbox-row").first
    review = hospital_task(live_app, cycle_id)
    assert first.get_attribute("data-task-id") == str(review.id)
    first.locator("button[data-action='claim']").click()
    page.wait_for_load_state()
    page.goto(f"{live_server}/tasks/{review.id}")
    score_and_decide(page, indicators, "rectify")
    page.fill("#item_1_description", "节日活动照片未显示单位名称")
    due = (utcnow() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    page.fill("#rectification_due", due)
    screenshot(page, "procedure-county-orders-rectification")
    page.click("#complete-task")
    page.wait_for_load_state()
    rectify = hospital_task(live_app, cycle_id)
    assert rectify.bpmn_id == "rectify"

    sign_in(page, live_server, "hospital", demo_password)
    page.goto(f"{live_server}/tasks/{rectify.id}")
    page.locator("textarea[id^='responses_']").first.fill(
        "已补拍带单位名称的活动照片。"
    )
    page.click("#complete-task")
    page.wait_for_load_state()

    sign_in(page, live_server, "county", demo_password)
    verify = hospital_task(live_app, cycle_id)
    assert verify.bpmn_id == "verify_county"
    page.goto(f"{live_server}/tasks/{verify.id}")
    page.check("input[name='decision'][value='passed']")
    page.click("#complete-task")
    page.wait_for_load_state()
    re_review = hospital_task(live_app, cycle_id)
    assert (re_review.bpmn_id, re_review.round) == ("review_county", 2)
    page.goto(f"{live_server}/tasks/{re_review.id}")
    score_and_decide(page, indicators, "approve")
    page.click("#complete-task")
    page.wait_for_load_state()

    sign_in(page, live_server, "city", demo_password)
    city_review = hospital_task(live_app, cycle_id)
    assert city_review.bpmn_id == "review_city"
    page.goto(f"{live_server}/tasks/{city_review.id}")
    score_and_decide(page, indicators, "approve")
    page.click("#complete-task")
    page.wait_for_load_state()

    page.goto(f"{live_server}/instances/{city_review.instance_id}")
    page.wait_for_selector(".djs-container svg")
    for element in (
        "submit_materials",
        "review_county",
        "rectification_county",
        "review_city",
        "archive",
    ):
        marked = page.locator(f"g.djs-element[data-element-id='{element}']")
        assert "step-completed" in (marked.get_attribute("class") or ""), element
    assert page.locator("#timeline li.timeline__entry").count() >= 8
    screenshot(page, "procedure-instance-archived")
    assert page_log.csp_violations() == []
    assert page_log.load_failures() == []
