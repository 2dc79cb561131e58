"""Browser flow: a unit submits its creation task, the county reviewer opens it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import HumanTask, Unit
from app.services.demo import tiny_pdf, tiny_png
from app.services.indicators import catalog_for_cycle
from tests.e2e.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser

UNIT = "materials"


def ready_task(live_app, form_key: str) -> tuple[int, list]:
    """Return the id of the unit's ready task with this form, and its indicators."""
    with live_app.app_context():
        unit = db.session.scalars(select(Unit).where(Unit.code == UNIT)).one()
        task = db.session.scalars(
            select(HumanTask).where(
                HumanTask.unit_id == unit.id,
                HumanTask.state == "ready",
                HumanTask.form_key == form_key,
            )
        ).one()
        catalog = catalog_for_cycle(db.session, task.cycle_id)
        db.session.remove()
    return task.id, list(catalog.indicators)


def evidence_files(tmp_path, indicator) -> list[str]:
    """Write the photos and documents an indicator asks for; return their paths."""
    paths = []
    for number in range(indicator.min_photos):
        path = tmp_path / f"{indicator.code}-photo{number}.png"
        path.write_bytes(tiny_png(number + indicator.id))
        paths.append(str(path))
    for number in range(indicator.min_documents):
        path = tmp_path / f"{indicator.code}-minutes{number}.pdf"
        path.write_bytes(tiny_pdf(f"{indicator.code}{number}"))
        paths.append(str(path))
    return paths


def test_unit_submits_with_photos_and_reviewer_sees_self_scores(
    page, page_log, live_server, live_app, demo_password, tmp_path
):
    """The liaison fills the form with uploads and submits; the county sees it."""
    task_id, indicators = ready_task(live_app, "unit_submission")
    sign_in(page, live_server, UNIT, demo_password)
    page.goto(f"{live_server}/tasks/{task_id}")

    for indicator in indicators:
        if indicator.kind != "base" or indicator.office_only:
            continue
        code = indicator.code
        page.fill(f"#{code}_self_score", str(indicator.points - 1))
        text = "按计划开展，材料齐全。".ljust(indicator.min_explanation_chars, "。")
        page.fill(f"#{code}_explanation", text)
        files = evidence_files(tmp_path, indicator)
        if files:
            page.set_input_files(f"#files_{code}", files)
    counter = page.locator("[data-counter-for='A1_explanation']")
    assert counter.inner_text().startswith(str(len("按计划开展，材料齐全。")))
    screenshot(page, "task-submission-filled")
    page.click("#complete-task")
    page.wait_for_load_state()
    screenshot(page, "task-submission-sent")

    assert f"/tasks/{task_id}" not in page.url
    review_id, _ = ready_task(live_app, "review")
    sign_in(page, live_server, "county", demo_password)
    page.goto(f"{live_server}/tasks/{review_id}")
    screenshot(page, "task-review-page")

    row = page.locator("tr[data-indicator='A1']")
    assert row.locator(".unit-self-score").inner_text().strip().startswith("4")
    assert page.locator("tr[data-indicator='A1'] img.evidence__preview").count() >= 2
    assert page.evaluate(
        "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page_log.csp_violations() == []
    assert page_log.load_failures() == []
