"""Browser test of the instance page: the diagram with the steps taken."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ProcessInstance, Unit
from tests.e2e.conftest import screenshot
from tests.e2e.test_smoke import assert_clean, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def hospital_instance_id(live_app) -> int:
    """Return the id of the demo hospital's creation-task instance."""
    with live_app.app_context():
        instance_id = db.session.scalars(
            select(ProcessInstance.id)
            .join(Unit, Unit.id == ProcessInstance.unit_id)
            .where(Unit.code == "hospital")
        ).first()
        db.session.remove()
    return instance_id


def test_county_reviewer_sees_diagram_with_path_taken(
    page, page_log, live_server, demo_password, hospital_instance_id
):
    """The county reviewer opens the hospital's instance and sees the steps marked."""
    sign_in(page, live_server, "county", demo_password)

    page.goto(f"{live_server}/instances/{hospital_instance_id}")
    page.wait_for_selector(".djs-container svg")
    page.wait_for_selector("#instance-diagram.instance-diagram--ready")
    screenshot(page, "instance-page-hospital")

    container = page.locator("#instance-diagram")
    current = json.loads(container.get_attribute("data-current"))
    completed = json.loads(container.get_attribute("data-completed"))
    assert current == ["review_city"]
    assert "submit_materials" in completed
    assert "review_county" in completed
    marked_current = page.locator(".djs-element.step-current")
    assert marked_current.count() == 1
    assert marked_current.get_attribute("data-element-id") == "review_city"
    done = page.locator('.djs-element.step-completed[data-element-id="review_county"]')
    assert done.count() == 1
    assert page.locator("#timeline li").count() > 0
    assert_clean(page_log)
