"""Dynamic management of titles: proposal, approval, public notice, decision."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import select

from app.models import (
    AuditEvent,
    CycleResult,
    HumanTask,
    Notification,
    TitleChange,
    TitleReview,
)
from app.services import tasks, titles
from app.services.base import transaction
from app.services.timers import fire_due_timers
from processes.errors import Conflict, Forbidden, InvalidInput
from tests.factories import build_world, task_for


@pytest.fixture
def world(session, app):
    """The sample organisation with a cycle that has not been issued."""
    from pathlib import Path

    return build_world(session, Path(app.config["WENMING_UPLOAD_FOLDER"]), issue=False)


def add_result(session, world, unit_code: str, **fields) -> CycleResult:
    """Record a unit's cycle result directly, as scoring would."""
    values = {"outcome": "approved", "grade": "keep", "final_score": Decimal(88)}
    values.update(fields)
    with transaction(session):
        row = CycleResult(
            cycle_id=world.cycle.id, unit_id=world.units[unit_code].id, **values
        )
        session.add(row)
    return row


def review_of(session, world, unit_code: str) -> TitleReview:
    """Return the unit's latest title review, freshly read."""
    query = (
        select(TitleReview)
        .where(TitleReview.unit_id == world.units[unit_code].id)
        .order_by(TitleReview.id.desc())
        .execution_options(populate_existing=True)
    )
    return session.scalars(query).first()


def started_review(session, world, unit_code: str = "hospital") -> TitleReview:
    """Start the review of a unit whose cycle result fell below the keep line."""
    add_result(session, world, unit_code, grade="below", final_score=Decimal(70))
    titles.start_title_reviews(session, world.cycle)
    return review_of(session, world, unit_code)


def propose(session, world, unit_code: str, proposal: str, **extra):
    """Have the county propose a decision on the unit's title."""
    task = task_for(session, world.users["county"], unit_code)
    data = {"proposal": proposal, "reason": "年度测评低于保留线", **extra}
    return tasks.complete(session, world.users["county"], task.id, data)


def approve(session, world, unit_code: str, decision="approve", opinion=""):
    """Have the city approve (or send back) the county's proposal."""
    task = task_for(session, world.users["city"], unit_code)
    data = {"decision": decision, "opinion": opinion}
    return tasks.complete(session, world.users["city"], task.id, data)


def end_notice(session, review: TitleReview):
    """Travel past the end of the review's notice and let the scheduler fire."""
    with time_machine.travel(review.notice_ends_at + timedelta(minutes=1), tick=False):
        return fire_due_timers(session)


def ready_forms(session, world, unit_code: str) -> list[str]:
    """Return the form keys of the unit's waiting tasks."""
    query = select(HumanTask.form_key).where(
        HumanTask.unit_id == world.units[unit_code].id, HumanTask.state == "ready"
    )
    return list(session.scalars(query))


def history(session, world, unit_code: str) -> list[tuple]:
    """Return the unit's title history as (from, to) status pairs."""
    query = (
        select(TitleChange)
        .where(TitleChange.unit_id == world.units[unit_code].id)
        .order_by(TitleChange.id)
    )
    return [(c.from_status, c.to_status) for c in session.scalars(query)]


@pytest.mark.parametrize(
    ("proposal", "extra", "status", "level"),
    [
        ("keep", {}, "named", "city"),
        ("yellow_card", {}, "yellow_card", "city"),
        ("rectify", {"rectify_days": "30"}, "rectifying", "city"),
        ("revoke", {}, "revoked", None),
    ],
)
def test_each_decision_takes_effect_after_a_quiet_notice(
    session, world, proposal, extra, status, level
):
    """County proposes, city approves, seven quiet days pass: the title changes."""
    review = started_review(session, world)
    assert ready_forms(session, world, "hospital") == ["title_propose"]

    propose(session, world, "hospital", proposal, **extra)
    assert ready_forms(session, world, "hospital") == ["title_approve"]
    approve(session, world, "hospital")
    review = review_of(session, world, "hospital")
    assert review.status == "notice"
    length = review.notice_ends_at - review.notice_starts_at
    assert timedelta(days=7) - length < timedelta(minutes=1)
    assert world.units["hospital"].title_status == "named"

    report = end_notice(session, review)
    assert report.fired == 1
    review = review_of(session, world, "hospital")
    unit = review.unit
    session.refresh(unit)
    assert (unit.title_status, unit.title_level) == (status, level)
    assert (review.status, review.outcome) == ("decided", proposal)
    assert review.decided_at is not None
    assert history(session, world, "hospital") == [("named", status)]
    assert ready_forms(session, world, "hospital") == []
    if proposal == "rectify":
        assert titles.rectify_due(review) - review.decided_at == timedelta(days=30)
    if proposal == "revoke":
        assert unit.title_term_end is not None
    liaison = world.users["hospital"]
    told = session.scalars(
        select(Notification.kind).where(Notification.user_id == liaison.id)
    ).all()
    assert "title_changed" in told


def test_city_sends_the_proposal_back_with_an_opinion(session, world):
    """A returned proposal goes back to the county, who proposes again."""
    started_review(session, world)
    propose(session, world, "hospital", "revoke")

    with pytest.raises(InvalidInput) as refused:
        approve(session, world, "hospital", decision="return")
    assert "opinion" in refused.value.details["errors"]

    approve(session, world, "hospital", decision="return", opinion="证据不足")
    review = review_of(session, world, "hospital")
    assert review.status == "proposing"
    assert review.approval_opinion == "证据不足"
    assert ready_forms(session, world, "hospital") == ["title_propose"]

    propose(session, world, "hospital", "yellow_card")
    approve(session, world, "hospital")
    end_notice(session, review_of(session, world, "hospital"))
    assert history(session, world, "hospital") == [("named", "yellow_card")]


def test_an_objection_in_the_notice_lets_the_city_change_the_decision(session, world):
    """An objection recorded during the notice sends the case to the city."""
    review = started_review(session, world)
    propose(session, world, "hospital", "revoke")
    approve(session, world, "hospital")

    titles.record_objection(
        session, world.users["county"], review.id, "该院已整改到位", "群众张某"
    )
    review = review_of(session, world, "hospital")
    assert [o.raised_by for o in review.objections] == ["群众张某"]

    end_notice(session, review)
    assert ready_forms(session, world, "hospital") == ["title_objections"]
    assert world.units["hospital"].title_status == "named"

    task = task_for(session, world.users["city"], "hospital")
    with pytest.raises(InvalidInput):
        tasks.complete(session, world.users["city"], task.id, {"decision": "change"})
    data = {"decision": "change", "proposal": "yellow_card", "opinion": "异议属实"}
    tasks.complete(session, world.users["city"], task.id, data)

    review = review_of(session, world, "hospital")
    assert (review.status, review.outcome) == ("decided", "yellow_card")
    assert history(session, world, "hospital") == [("named", "yellow_card")]


def test_city_upholds_the_proposal_despite_objections(session, world):
    """Upholding keeps the county's proposal, which then takes effect."""
    review = started_review(session, world)
    propose(session, world, "hospital", "rectify", rectify_days="60")
    approve(session, world, "hospital")
    titles.record_objection(session, world.users["city"], review.id, "有异议")
    end_notice(session, review_of(session, world, "hospital"))

    task = task_for(session, world.users["city"], "hospital")
    tasks.complete(session, world.users["city"], task.id, {"decision": "uphold"})
    review = review_of(session, world, "hospital")
    assert (review.outcome, review.rectify_days) == ("rectify", 60)
    assert history(session, world, "hospital") == [("named", "rectifying")]


def test_objections_are_refused_outside_the_notice(session, world):
    """Before approval and after the notice ends, no objection is accepted."""
    review = started_review(session, world)
    county = world.users["county"]
    with pytest.raises(InvalidInput, match="only while the public notice runs"):
        titles.record_objection(session, county, review.id, "太早了")

    propose(session, world, "hospital", "keep")
    approve(session, world, "hospital")
    review = review_of(session, world, "hospital")
    late = review.notice_ends_at + timedelta(hours=1)
    with (
        time_machine.travel(late, tick=False),
        pytest.raises(InvalidInput, match="has ended"),
    ):
        titles.record_objection(session, county, review.id, "太晚了")
    end_notice(session, review)
    with pytest.raises(InvalidInput):
        titles.record_objection(session, county, review.id, "已结束")
    assert review_of(session, world, "hospital").objections == []


def test_unit_users_cannot_record_objections(session, world):
    """A liaison may see the review but not record objections on it."""
    review = started_review(session, world)
    propose(session, world, "hospital", "keep")
    approve(session, world, "hospital")
    with pytest.raises(Forbidden):
        titles.record_objection(session, world.users["hospital"], review.id, "我反对")


def test_notice_timer_waits_its_full_term(session, world):
    """A day before the notice ends nothing fires; after it, the decision applies."""
    review = started_review(session, world)
    propose(session, world, "hospital", "yellow_card")
    approve(session, world, "hospital")
    review = review_of(session, world, "hospital")
    assert review.unit.title_status == "named"

    with time_machine.travel(review.notice_ends_at - timedelta(days=1), tick=False):
        fire_due_timers(session)
    assert history(session, world, "hospital") == []
    end_notice(session, review)
    assert history(session, world, "hospital") == [("named", "yellow_card")]


def test_notice_term_comes_from_the_start_data(session, world):
    """A shorter notice term set at the start shortens the notice."""
    add_result(session, world, "hospital", vetoed=True, grade="veto")
    titles.start_title_reviews(session, world.cycle, notice_term="P3D")
    propose(session, world, "hospital", "revoke")
    approve(session, world, "hospital")
    review = review_of(session, world, "hospital")
    assert review.reason == "vetoed"
    length = review.notice_ends_at - review.notice_starts_at
    assert timedelta(days=3) - length < timedelta(minutes=1)


def test_start_picks_exactly_the_units_in_doubt_and_only_once(session, world):
    """Below keep, vetoed and failed rectification start reviews; others do not."""
    add_result(session, world, "hospital", grade="below")
    add_result(session, world, "taxbureau", vetoed=True, grade="veto")
    add_result(session, world, "bank", outcome="rectification_failed")
    add_result(session, world, "community", grade="keep")
    add_result(session, world, "school", grade="below")
    add_result(session, world, "materials", vetoed=True)

    assert titles.start_title_reviews(session, world.cycle, batch_size=2) == 3
    reviews = session.scalars(select(TitleReview).order_by(TitleReview.id)).all()
    by_unit = {r.unit.code: r.reason for r in reviews}
    assert by_unit == {
        "hospital": "below_keep",
        "taxbureau": "vetoed",
        "bank": "rectification_failed",
    }
    keys = {r.instance_id for r in reviews}
    assert len(keys) == 3 and None not in keys

    assert titles.start_title_reviews(session, world.cycle) == 0
    assert len(session.scalars(select(TitleReview)).all()) == 3


def test_office_admin_starts_a_review_by_hand(session, world):
    """An office administrator starts a review; a second open one is refused."""
    county = world.users["county"]
    unit_id = world.units["community"].id
    review = titles.start_title_review(session, county, unit_id, "complaint")
    assert review.cycle_id is None
    assert ready_forms(session, world, "community") == ["title_propose"]

    with pytest.raises(Conflict):
        titles.start_title_review(session, county, unit_id, "complaint")
    with pytest.raises(InvalidInput, match="holds no title"):
        titles.start_title_review(
            session, county, world.units["school"].id, "complaint"
        )
    with pytest.raises(Forbidden):
        titles.start_title_review(
            session, world.users["county_b"], world.units["bank"].id, "complaint"
        )
    started = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "title.review_started")
    ).all()
    assert len(started) == 1


def test_reminder_and_escalation_of_a_late_proposal(session, world):
    """A proposal not made in time reminds the county, then tells the city."""
    started_review(session, world)
    task = task_for(session, world.users["county"], "hospital")
    with time_machine.travel(task.due_at - timedelta(days=1), tick=False):
        fire_due_timers(session)
    with time_machine.travel(task.due_at + timedelta(hours=1), tick=False):
        fire_due_timers(session)
    kinds = session.scalars(
        select(Notification.kind).where(
            Notification.user_id.in_([world.users["county"].id, world.users["city"].id])
        )
    ).all()
    assert "propose_title_reminder" in kinds
    assert "escalation" in kinds
    assert ready_forms(session, world, "hospital") == ["title_propose"]


def test_rectify_needs_a_whole_number_of_days(session, world):
    """A rectification proposal without a sensible number of days is refused."""
    started_review(session, world)
    for days in ("", "0", "2.5", "400"):
        with pytest.raises(InvalidInput) as refused:
            propose(session, world, "hospital", "rectify", rectify_days=days)
        assert "rectify_days" in refused.value.details["errors"]
    assert ready_forms(session, world, "hospital") == ["title_propose"]


def test_a_unit_already_under_review_waits_for_the_cycle_start(session, world):
    """A review started by hand keeps the cycle from starting a second one."""
    titles.start_title_review(
        session, world.users["county"], world.units["hospital"].id, "complaint"
    )
    add_result(session, world, "hospital", grade="below")
    assert titles.start_title_reviews(session, world.cycle) == 0
    assert len(session.scalars(select(TitleReview)).all()) == 1
