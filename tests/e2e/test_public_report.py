"""Browser flow: a visitor reports a problem and follows it to the published result."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from sqlalchemy import select

from app.extensions import db
from app.models import HumanTask
from app.models.public import PublicReport
from app.services.public_reports import code_hash
from tests.e2e.conftest import assert_clean, screenshot, sign_in

pytestmark = pytest.mark.browser

UNIT_NAME = "县人民医院"


def photo() -> bytes:
    """Return a small JPEG to attach."""
    out = io.BytesIO()
    Image.new("RGB", (120, 90), (30, 140, 90)).save(out, format="JPEG")
    return out.getvalue()


def waiting_task(live_app, code: str, form_key: str) -> int:
    """Return the waiting task of the report filed with this code."""
    with live_app.app_context():
        instance_id = db.session.scalars(
            select(PublicReport.instance_id).where(
                PublicReport.code_hash == code_hash(code)
            )
        ).one()
        task_id = db.session.scalars(
            select(HumanTask.id).where(
                HumanTask.instance_id == instance_id,
                HumanTask.form_key == form_key,
                HumanTask.state == "ready",
            )
        ).one()
        db.session.remove()
    return task_id


def complete(page, live_server: str, task_id: int, fill) -> None:
    """Open a task page, fill it in and send it."""
    page.goto(f"{live_server}/tasks/{task_id}")
    fill()
    page.click("#complete-task")
    page.wait_for_load_state()
    assert "/tasks/" not in page.url or page.locator("#form-summary").count() == 0


def file_report(page, live_server: str) -> str:
    """File a report with a photo as an anonymous visitor; return the code."""
    page.context.clear_cookies()
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{live_server}/public/")
    page.click(f"text={UNIT_NAME}")
    page.click("a[href*='/public/report?unit=']")
    page.select_option("#category", "environment")
    page.fill("#description", "医院门诊楼卫生间长期无人打扫，气味难闻。")
    page.set_input_files(
        "#photos",
        files=[{"name": "toilet.jpg", "mimeType": "image/jpeg", "buffer": photo()}],
    )
    question = page.locator("label[for='challenge_answer']").inner_text()
    first, second = (int(n) for n in re.findall(r"\d+", question)[:2])
    page.fill("#challenge_answer", str(first + second))
    page.wait_for_timeout(3200)
    page.click("#send-report")
    page.wait_for_load_state()
    screenshot(page, "public-report-code")
    return page.locator("#tracking-code").inner_text().strip()


def test_visitor_report_is_handled_and_the_result_published(
    page, page_log, live_server, live_app, demo_password
):
    """Report with photo → triage → verify → rectify → accept → reply → published."""
    code = file_report(page, live_server)
    assert len(code) >= 32

    sign_in(page, live_server, "county", demo_password)
    page.goto(f"{live_server}/inbox/")
    triage = waiting_task(live_app, code, "public_triage")
    complete(
        page,
        live_server,
        triage,
        lambda: page.check("input[name='decision'][value='accept']"),
    )

    def verify():
        assert page.locator(".public-report-context img").count() == 1
        page.check("input[name='confirmed'][value='yes']")
        page.fill("#findings", "经现场核查，卫生间保洁不到位属实。")
        page.check("input[name='deduction'][value='none']")
        page.fill("#rectify_days", "7")

    complete(page, live_server, waiting_task(live_app, code, "public_verify"), verify)

    sign_in(page, live_server, "hospital", demo_password)
    rectify = waiting_task(live_app, code, "public_rectify")
    page.goto(f"{live_server}/tasks/{rectify}")
    assert page.locator(".public-report-contact").count() == 0
    page.fill("#response", "已安排专人每两小时保洁一次并公示保洁记录。")
    page.click("#complete-task")
    page.wait_for_load_state()

    sign_in(page, live_server, "county", demo_password)
    complete(
        page,
        live_server,
        waiting_task(live_app, code, "public_check"),
        lambda: page.check("input[name='decision'][value='accept']"),
    )
    complete(
        page,
        live_server,
        waiting_task(live_app, code, "public_feedback"),
        lambda: page.fill("#reply", "经核查问题属实，医院已完成整改。"),
    )

    page.context.clear_cookies()
    page.goto(f"{live_server}/public/track")
    page.fill("#code", code)
    page.click("#track-submit")
    page.wait_for_load_state()
    result = page.locator("#track-result")
    assert result.get_attribute("data-status") == "published"
    assert "医院已完成整改" in page.locator("#public-reply").inner_text()
    screenshot(page, "public-report-tracked")
    assert_clean(page_log)
