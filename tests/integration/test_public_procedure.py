"""A public report through its procedure: triage, verification, rectification."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import select

from app.models import AuditEvent, TitleReview, UnitDeduction, utcnow
from app.models.public import PublicReport
from app.services import public_reports, report_guard, scoring, tasks
from processes.errors import InvalidInput
from tests.factories import ready_tasks, sign_in

SECRET = "test-secret"


def guard(address: str = "198.51.100.7") -> public_reports.Guard:
    """Return a guard that passes: a sum shown ten seconds ago, answered right."""
    challenge = report_guard.new_challenge(SECRET, now=time.time() - 10)
    return public_reports.Guard(
        secret=SECRET,
        client_address=address,
        token=challenge.token,
        answer=str(challenge.first + challenge.second),
        honeypot="",
    )


def file_bank_report(session, world, **changes) -> public_reports.Filed:
    """File the sample report about the bank branch's window service."""
    entry = public_reports.ReportInput(
        unit_id=world.units["bank"].id,
        category="service_attitude",
        description="窗口工作人员态度生硬，拒绝解答问题。",
        contact_name="王先生",
        contact_phone="13800000000",
    )
    for key, value in changes.items():
        setattr(entry, key, value)
    return public_reports.file_report(
        session, entry, guard(), upload_folder=world.upload_folder
    )


def step(session, world, username: str, data: dict):
    """Complete the report task waiting for the user."""
    user = world.users[username]
    task = next(
        t
        for t in tasks.actionable_tasks(session, user)
        if t.form_key.startswith("public_")
    )
    return tasks.complete(session, user, task.id, data)


def waiting_forms(session, world) -> list[str]:
    """Return the form keys of the bank's waiting report tasks."""
    return [
        t.form_key
        for t in ready_tasks(session, world.units["bank"])
        if t.form_key.startswith("public_")
    ]


def confirm(session, world, **extra):
    """Triage and confirm the bank report with a G2 deduction."""
    step(session, world, "county", {"decision": "accept"})
    data = {
        "confirmed": "yes",
        "findings": "经核查，窗口人员服务态度问题属实。",
        "deduction": "G2",
        "rectify_days": "7",
        **extra,
    }
    step(session, world, "county", data)


def test_report_waits_for_triage_by_the_managing_office(session, world):
    """A filed report starts the procedure: the county office triages it."""
    filed = file_bank_report(session, world)

    assert len(filed.code) >= 32
    assert filed.report.code_hash == public_reports.code_hash(filed.code)
    assert waiting_forms(session, world) == ["public_triage"]
    assert public_reports.track(session, filed.code).status == "triage"


def test_rejected_at_triage_publishes_the_reason(session, world):
    """A report rejected at triage is published with the reason as the reply."""
    filed = file_bank_report(session, world)

    step(session, world, "county", {"decision": "reject", "reason": "不属于受理范围"})

    report = public_reports.track(session, filed.code)
    assert (report.status, report.outcome) == ("published", "rejected")
    assert report.public_reply == "不属于受理范围"
    assert waiting_forms(session, world) == []


def test_reject_without_reason_is_refused(session, world):
    """Rejecting needs a reason the reporter can read."""
    file_bank_report(session, world)

    with pytest.raises(InvalidInput) as refused:
        step(session, world, "county", {"decision": "reject", "reason": ""})
    assert "reason" in refused.value.details["errors"]
    assert waiting_forms(session, world) == ["public_triage"]


def test_not_confirmed_goes_to_feedback_without_deduction(session, world):
    """An unfounded report gets a reply and no deduction."""
    filed = file_bank_report(session, world)
    step(session, world, "county", {"decision": "accept"})
    step(session, world, "county", {"confirmed": "no", "findings": "经核查不属实"})

    assert waiting_forms(session, world) == ["public_feedback"]
    step(session, world, "county", {"reply": "经核查，反映问题不属实。"})

    report = public_reports.track(session, filed.code)
    assert (report.status, report.outcome) == ("published", "unfounded")
    assert session.scalars(select(UnitDeduction)).all() == []


def test_confirmed_report_costs_two_points_and_is_rectified(session, world):
    """Confirmed: G2 recorded, the unit rectifies, county accepts, reply published."""
    filed = file_bank_report(session, world)
    confirm(session, world)

    deduction = session.scalars(select(UnitDeduction)).one()
    assert (deduction.kind, deduction.source) == ("complaint", "public_report")
    assert deduction.cycle_id == world.cycle.id
    recorded = scoring._recorded_deductions(session, world.cycle)
    assert recorded[world.units["bank"].id].complaint == Decimal(2)

    assert waiting_forms(session, world) == ["public_rectify"]
    step(session, world, "bank", {"response": "已对窗口人员开展服务礼仪培训。"})
    step(session, world, "county", {"decision": "return", "opinion": "请补充照片"})
    assert waiting_forms(session, world) == ["public_rectify"]
    step(session, world, "bank", {"response": "已补充培训照片。"})
    step(session, world, "county", {"decision": "accept"})
    step(session, world, "county", {"reply": "问题属实，已责令整改并扣分。"})

    report = public_reports.track(session, filed.code)
    assert (report.status, report.outcome) == ("published", "confirmed")
    milestones = [m.milestone for m in report.milestones]
    assert milestones == ["received", "accepted", "confirmed", "rectified", "published"]
    assert report.title_review_id is None
    actions = set(session.scalars(select(AuditEvent.action)))
    assert {"public_report.received", "deduction.recorded"} <= actions
    assert "public_report.published" in actions


def test_returned_rectification_gets_a_new_date_to_rectify_by(app, session, world):
    """Sent back ten days on, the unit's page shows a new date seven days ahead."""
    file_bank_report(session, world)
    confirm(session, world)
    step(session, world, "bank", {"response": "已开展培训。"})
    later = utcnow() + timedelta(days=10)

    with time_machine.travel(later, tick=False):
        step(session, world, "county", {"decision": "return", "opinion": "未整改到位"})

    due = (later + timedelta(days=7)).date()
    task = next(
        t
        for t in ready_tasks(session, world.units["bank"])
        if t.form_key == "public_rectify"
    )
    page = sign_in(app, "bank").get(f"/tasks/{task.id}").get_data(as_text=True)
    assert session.scalars(select(PublicReport)).one().rectification_due == due
    assert f"<dd>{due.isoformat()}</dd>" in page
    assert task.due_at.date() == due


def test_confirmed_report_can_start_a_title_review(session, world):
    """Confirming with a title review starts one for the unit, reason complaint."""
    file_bank_report(session, world)
    confirm(session, world, start_title_review="yes")

    review = session.scalars(select(TitleReview)).one()
    assert (review.unit_id, review.reason) == (world.units["bank"].id, "complaint")
    report = session.scalars(select(PublicReport)).one()
    assert report.title_review_id == review.id
    assert "title_propose" in [t.form_key for t in ready_tasks(session, report.unit)]


def test_title_review_needs_an_office_administrator(session, world):
    """A reviewer without the administrator role cannot start a title review."""
    file_bank_report(session, world)
    step(session, world, "county", {"decision": "accept"})
    data = {
        "confirmed": "yes",
        "findings": "属实",
        "deduction": "G2",
        "rectify_days": "7",
        "start_title_review": "yes",
    }

    with pytest.raises(InvalidInput) as refused:
        step(session, world, "county_b", data)
    assert "start_title_review" in refused.value.details["errors"]
    assert session.scalars(select(UnitDeduction)).all() == []
    assert waiting_forms(session, world) == ["public_verify"]


def test_diagram_passes_validation_with_lanes_forms_and_timers():
    """The shipped diagram validates; each user task has lane, form, due, timers."""
    from pathlib import Path

    from lxml import etree

    from forms.registry import FORM_KEYS
    from processes.lint import KNOWN_LANES
    from processes.validation import validate_diagram

    path = Path(__file__).resolve().parents[2] / "bpmn_diagrams/public_report.bpmn"
    verdict = validate_diagram(
        path.read_bytes(),
        filename=path.name,
        form_keys=FORM_KEYS,
        lanes=KNOWN_LANES,
    )
    assert verdict.ok, verdict.problems
    ns = {
        "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
        "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
    }
    root = etree.parse(str(path))
    lanes = {
        ref.text: lane.get("name")
        for lane in root.iterfind(".//bpmn:lane", ns)
        for ref in lane.iterfind("bpmn:flowNodeRef", ns)
    }
    timers = {b.get("id") for b in root.iterfind(".//bpmn:boundaryEvent", ns)}
    forms = {}
    for task in root.iterfind(".//bpmn:userTask", ns):
        props = {
            p.get("name"): p.get("value")
            for p in task.iterfind(".//spiffworkflow:property", ns)
        }
        forms[task.get("id")] = (lanes[task.get("id")], props["form"])
        assert props.get("due")
        assert {f"{task.get('id')}_reminder", f"{task.get('id')}_escalation"} <= timers
    assert forms == {
        "triage_report": ("office", "public_triage"),
        "verify_report": ("county", "public_verify"),
        "rectify_report": ("unit", "public_rectify"),
        "check_rectification": ("county", "public_check"),
        "give_feedback": ("office", "public_feedback"),
    }
