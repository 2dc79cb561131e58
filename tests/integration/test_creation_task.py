"""The creation task end to end: submission, reviews, rectification, archive."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.models import (
    Archive,
    AuditEvent,
    HumanTask,
    ProcessInstance,
    RectificationOrder,
    Review,
)
from app.services import tasks
from processes import engine, runner
from processes.errors import InvalidInput
from tests.factories import (
    ready_tasks,
    rectify,
    review,
    review_data,
    submit,
    task_for,
    verify,
)


def instance_of(session, world, unit_code) -> ProcessInstance:
    """Return the unit's creation-task instance of the world's cycle."""
    return session.scalars(
        select(ProcessInstance).where(
            ProcessInstance.unit_id == world.units[unit_code].id,
            ProcessInstance.cycle_id == world.cycle.id,
        )
    ).one()


def assert_inbox_matches_workflow(session, instance) -> None:
    """Check the human-task rows equal the workflow's ready user tasks."""
    instance = runner.load_instance(session, instance.id)
    workflow = runner.load_workflow(session, instance)
    expected = {
        str(t.id): t.task_spec.bpmn_id for t in engine.ready_user_tasks(workflow)
    }
    rows = session.scalars(
        select(HumanTask).where(
            HumanTask.instance_id == instance.id, HumanTask.state == "ready"
        )
    )
    assert {row.task_uuid: row.bpmn_id for row in rows} == expected


def waiting(session, world, unit_code) -> list[tuple[str, str]]:
    """Return (task id, lane) of what the unit's instance waits for."""
    return [(t.bpmn_id, t.lane) for t in ready_tasks(session, world.units[unit_code])]


def archive_of(session, instance) -> Archive:
    """Return the archive row of an instance."""
    return session.scalars(
        select(Archive).where(Archive.instance_id == instance.id)
    ).one()


def test_issuance_gives_each_unit_its_submission_task(session, world):
    """Every unit in the cycle's scope gets exactly one submission task."""
    assert waiting(session, world, "hospital") == [("submit_materials", "unit")]
    count = session.scalar(
        select(func.count())
        .select_from(ProcessInstance)
        .where(ProcessInstance.cycle_id == world.cycle.id)
    )
    assert count == len(world.units)
    task = ready_tasks(session, world.units["hospital"])[0]
    assert task.due_at == world.cycle.submission_due
    assert task.form_key == "unit_submission"


@pytest.mark.parametrize(
    ("unit_code", "levels"),
    [
        ("school", ["county"]),
        ("hospital", ["county", "city"]),
        ("taxbureau", ["county", "city", "province"]),
    ],
)
def test_approval_at_each_review_depth_archives_the_score(
    session, world, unit_code, levels
):
    """A unit is reviewed by the levels its target title needs, then archived."""
    instance = instance_of(session, world, unit_code)
    submit(session, world, unit_code)
    for level in levels:
        assert waiting(session, world, unit_code) == [(f"review_{level}", level)]
        assert_inbox_matches_workflow(session, instance)
        review(session, world, level, unit_code, "approve")

    session.refresh(instance)
    assert instance.status == "completed"
    assert instance.outcome == "approved"
    assert waiting(session, world, unit_code) == []
    archive = archive_of(session, instance)
    base_total = sum(
        i.points - 1 for i in world.system.scoring_indicators() if i.kind == "base"
    )
    assert archive.final_score == base_total
    assert archive.grade == ("keep" if base_total >= 85 else "below")
    reviews = session.scalars(select(Review).where(Review.instance_id == instance.id))
    assert [r.level for r in reviews] == levels


def test_rectification_goes_back_to_the_ordering_level_for_re_review(session, world):
    """City orders rectification; the city verifies and re-reviews, not the county."""
    instance = instance_of(session, world, "hospital")
    submit(session, world, "hospital")
    review(session, world, "county", "hospital", "approve")
    review(session, world, "city", "hospital", "rectify")
    assert waiting(session, world, "hospital") == [("rectify", "unit")]
    assert_inbox_matches_workflow(session, instance)

    rectify(session, world, "hospital")
    assert waiting(session, world, "hospital") == [("verify_city", "city")]
    verify(session, world, "city", "hospital", "passed")
    assert waiting(session, world, "hospital") == [("review_city", "city")]
    re_review = ready_tasks(session, world.units["hospital"])[0]
    assert re_review.round == 2
    assert_inbox_matches_workflow(session, instance)

    review(session, world, "city", "hospital", "approve")
    session.refresh(instance)
    assert instance.outcome == "approved"
    order = session.scalars(select(RectificationOrder)).one()
    assert (order.level, order.status) == ("city", "verified")


def test_rectification_loop_stops_at_the_diagram_limit(session, world):
    """Rejected rectifications repeat up to the limit, then the task is archived."""
    instance = instance_of(session, world, "school")
    submit(session, world, "school")
    review(session, world, "county", "school", "rectify")
    rounds = 0
    while waiting(session, world, "school") == [("rectify", "unit")]:
        rounds += 1
        rectify(session, world, "school")
        verify(session, world, "county", "school", "redo")
        assert_inbox_matches_workflow(session, instance)

    session.refresh(instance)
    assert rounds == 3
    assert instance.status == "completed"
    assert instance.outcome == "rectification_failed"
    assert archive_of(session, instance).outcome == "rectification_failed"
    orders = session.scalars(
        select(RectificationOrder).order_by(RectificationOrder.id)
    ).all()
    assert [o.round for o in orders] == [1, 2, 3]
    assert all(o.status == "rejected" for o in orders)


def test_veto_fails_the_unit_outright(session, world):
    """A veto item archives the unit as failed with the veto grade."""
    instance = instance_of(session, world, "bank")
    submit(session, world, "bank")
    review(session, world, "county", "bank", "fail", vetoes=["V4"], fail_reason="")

    archive = archive_of(session, instance)
    assert (archive.outcome, archive.vetoed, archive.grade) == ("failed", True, "veto")


def test_veto_with_approval_is_refused_and_nothing_changes(session, world):
    """Approving despite a veto item is refused with a message; no review is kept."""
    submit(session, world, "bank")
    task = task_for(session, world.users["county"], "bank")
    before = runner.load_instance(session, task.instance_id).lock_version
    data = review_data(world.system, "approve", vetoes=["V1"])

    with pytest.raises(InvalidInput, match="veto"):
        tasks.complete(session, world.users["county"], task.id, data)

    session.rollback()
    assert session.scalar(select(func.count()).select_from(Review)) == 0
    assert session.get(HumanTask, task.id).state == "ready"
    assert runner.load_instance(session, task.instance_id).lock_version == before


def test_fail_archives_with_the_reviewed_score(session, world):
    """A county fail ends the task at once with the scores the reviewer gave."""
    instance = instance_of(session, world, "community")
    submit(session, world, "community")
    review(
        session,
        world,
        "county",
        "community",
        "fail",
        scores={
            i.code: "1" for i in world.system.scoring_indicators() if i.kind == "base"
        },
    )
    archive = archive_of(session, instance)
    base_count = sum(1 for i in world.system.scoring_indicators() if i.kind == "base")
    assert archive.outcome == "failed"
    assert archive.final_score == Decimal(base_count)
    assert archive.grade == "below"


def test_bonus_is_capped_and_deductions_subtract(session, world):
    """Final score = base + bonus up to the cap − deductions."""
    instance = instance_of(session, world, "school")
    submit(session, world, "school")
    scores = {
        i.code: "4" for i in world.system.scoring_indicators() if i.kind == "base"
    }
    scores.update({"F1": "6", "F2": "4", "G1": "3", "G2": "2"})
    review(session, world, "county", "school", "approve", scores=scores)

    archive = archive_of(session, instance)
    base_count = sum(1 for i in world.system.scoring_indicators() if i.kind == "base")
    assert archive.base_score == 4 * base_count
    assert archive.bonus == 10
    assert archive.deductions == 5
    assert archive.final_score == 4 * base_count + 10 - 5


def test_leader_signoff_can_return_the_submission(session, world):
    """A unit that needs sign-off goes liaison → leader; a return goes back."""
    from app.services import cycles
    from app.services.base import transaction
    from tests.factories import make_cycle

    hospital = world.units["hospital"]
    with transaction(session):
        hospital.needs_leader_signoff = True
        cycle = make_cycle(session, world.offices["X01"], world.system, name="季度任务")
    cycles.issue_cycle(session, cycle)

    submit(session, world, "hospital", cycle=cycle)
    leader = world.users["hospital_leader"]
    task = task_for(session, leader, "hospital")
    assert task.bpmn_id == "leader_signoff"
    tasks.complete(
        session, leader, task.id, {"decision": "return", "opinion": "补充照片"}
    )
    returned = [t for t in ready_tasks(session, hospital) if t.cycle_id == cycle.id]
    assert [t.bpmn_id for t in returned] == ["submit_materials"]

    submit(session, world, "hospital", cycle=cycle)
    task = task_for(session, leader, "hospital")
    tasks.complete(session, leader, task.id, {"decision": "approve"})
    assert (
        task_for(session, world.users["county"], "hospital").bpmn_id == "review_county"
    )


def test_every_step_is_audited(session, world):
    """Each action leaves an audit event with its actor."""
    submit(session, world, "school")
    review(session, world, "county", "school", "approve")
    actions = session.scalars(select(AuditEvent.action)).all()
    for action in (
        "instance.started",
        "task.completed",
        "review.recorded",
        "instance.archived",
        "evidence.uploaded",
    ):
        assert action in actions
