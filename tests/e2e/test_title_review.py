"""Browser flow: a title review from the unit page to a yellow card in the list."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from app.extensions import db
from app.models import HumanTask, TitleReview, Unit
from app.services.timers import fire_due_timers
from tests.e2e.conftest import assert_clean, screenshot, sign_in

pytestmark = pytest.mark.browser

UNIT = "community"


def unit_id(live_app) -> int:
    """Return the id of the demo unit this test reviews."""
    with live_app.app_context():
        found = db.session.scalars(select(Unit.id).where(Unit.code == UNIT)).one()
        db.session.remove()
    return found


def waiting_task(live_app, form_key: str) -> int:
    """Return the id of the unit's waiting title review task with this form."""
    with live_app.app_context():
        task_id = db.session.scalars(
            select(HumanTask.id)
            .join(Unit, Unit.id == HumanTask.unit_id)
            .where(Unit.code == UNIT, HumanTask.form_key == form_key)
            .where(HumanTask.state == "ready")
        ).one()
        db.session.remove()
    return task_id


def end_the_notice(live_app) -> None:
    """Travel past the end of the unit's public notice and fire the timers."""
    with live_app.app_context():
        review = db.session.scalars(
            select(TitleReview)
            .join(Unit, Unit.id == TitleReview.unit_id)
            .where(Unit.code == UNIT)
        ).one()
        ends_at = review.notice_ends_at
        with time_machine.travel(ends_at + timedelta(minutes=5), tick=False):
            fire_due_timers(db.session)
        db.session.remove()


def test_county_proposes_a_yellow_card_and_the_list_shows_it(
    page, page_log, live_server, live_app, demo_password
):
    """County starts and proposes, city approves, the notice ends: 黄牌 in the list."""
    sign_in(page, live_server, "county", demo_password)
    page.goto(f"{live_server}/units/{unit_id(live_app)}")
    page.select_option("#reason", "complaint")
    page.click("#start-review")
    page.wait_for_load_state()
    assert page.locator(".review-phase").get_attribute("data-phase") == "proposing"

    page.goto(f"{live_server}/tasks/{waiting_task(live_app, 'title_propose')}")
    page.check("input[name='proposal'][value='yellow_card']")
    page.fill("#reason", "群众反映服务窗口态度差，经核实属实")
    screenshot(page, "title-review-proposal")
    page.click("#complete-task")
    page.wait_for_load_state()

    sign_in(page, live_server, "city", demo_password)
    page.goto(f"{live_server}/tasks/{waiting_task(live_app, 'title_approve')}")
    assert page.locator(".review-proposal").get_attribute("data-proposal") == (
        "yellow_card"
    )
    page.check("input[name='decision'][value='approve']")
    page.click("#complete-task")
    page.wait_for_load_state()
    page.goto(f"{live_server}/units/{unit_id(live_app)}")
    page.click("#title-reviews a")
    assert page.locator(".review-phase").get_attribute("data-phase") == "notice"
    screenshot(page, "title-review-notice")

    end_the_notice(live_app)
    page.goto(f"{live_server}/units/?status=yellow_card")
    row = page.locator(f"tr[data-unit='{UNIT}']")
    assert "黄牌" in row.locator(".unit-status").inner_text()
    screenshot(page, "title-review-yellow-card")
    assert_clean(page_log)
