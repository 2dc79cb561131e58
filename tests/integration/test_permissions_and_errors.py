"""Scope checks and bad inputs: clear errors, and nothing changes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.models import AuditEvent, HumanTask, Review, Submission
from app.services import submissions, tasks
from processes import runner
from processes.errors import Conflict, EngineError, Forbidden, InvalidInput, NotFound
from tests.factories import review, review_data, submit, task_for


def snapshot(session, task_id: int) -> tuple:
    """Return what a failed step must leave unchanged."""
    session.rollback()
    task = session.get(HumanTask, task_id)
    instance = runner.load_instance(session, task.instance_id)
    reviews = session.scalar(select(func.count()).select_from(Review))
    return task.state, task.claimed_by_id, instance.lock_version, reviews


def test_liaison_cannot_act_on_another_units_task(session, world):
    """The school's liaison gets NotFound for the hospital's submission task."""
    hospital_task = task_for(session, world.users["hospital"], "hospital")
    with pytest.raises(NotFound):
        tasks.complete(
            session, world.users["school"], hospital_task.id, {"responses": {}}
        )
    with pytest.raises(NotFound):
        tasks.claim(session, world.users["school"], hospital_task.id)


def test_county_reviewer_cannot_act_in_another_county(session, world):
    """A reviewer of the other county neither sees nor completes this county's task."""
    submit(session, world, "school")
    task = task_for(session, world.users["county"], "school")
    before = snapshot(session, task.id)
    with pytest.raises(NotFound):
        tasks.complete(
            session,
            world.users["county2"],
            task.id,
            review_data(world.system, "approve"),
        )
    assert snapshot(session, task.id) == before
    assert task not in tasks.actionable_tasks(session, world.users["county2"])


def test_city_reviewer_cannot_take_the_county_lane(session, world):
    """A city reviewer sees the county task in scope but may not act in its lane."""
    submit(session, world, "school")
    task = task_for(session, world.users["county"], "school")
    with pytest.raises(Forbidden, match="county"):
        tasks.claim(session, world.users["city"], task.id)


def test_reviewer_cannot_submit_for_a_unit(session, world):
    """Office staff cannot complete a unit's submission task."""
    task = task_for(session, world.users["school"], "school")
    with pytest.raises(Forbidden):
        tasks.complete(session, world.users["county"], task.id, {"responses": {}})


def test_claim_by_one_reviewer_blocks_another(session, world):
    """A claimed task cannot be claimed or completed by a second reviewer."""
    submit(session, world, "school")
    task = task_for(session, world.users["county"], "school")
    tasks.claim(session, world.users["county"], task.id)
    with pytest.raises(Conflict, match="claimed by county"):
        tasks.claim(session, world.users["county_b"], task.id)
    with pytest.raises(Conflict, match="claimed by county"):
        tasks.complete(
            session,
            world.users["county_b"],
            task.id,
            review_data(world.system, "approve"),
        )
    assert task not in tasks.actionable_tasks(session, world.users["county_b"])

    tasks.unclaim(session, world.users["county"], task.id)
    assert tasks.claim(session, world.users["county_b"], task.id).claimed_by_id == (
        world.users["county_b"].id
    )
    actions = session.scalars(select(AuditEvent.action)).all()
    assert actions.count("task.claimed") == 2
    assert "task.unclaimed" in actions


def test_completing_a_task_twice_names_who_did_it(session, world):
    """A double submit is refused with who completed the task, and nothing changes."""
    submit(session, world, "school")
    task = task_for(session, world.users["county"], "school")
    review(session, world, "county", "school", "approve")
    before = snapshot(session, task.id)
    with pytest.raises(Conflict, match="already completed by county"):
        tasks.complete(
            session,
            world.users["county"],
            task.id,
            review_data(world.system, "approve"),
        )
    assert snapshot(session, task.id) == before


def test_wrong_data_types_give_field_errors_and_change_nothing(session, world):
    """Scores that are not numbers, or out of range, are named field by field."""
    submit(session, world, "school")
    task = task_for(session, world.users["county"], "school")
    before = snapshot(session, task.id)
    data = review_data(world.system, "approve")
    data["scores"]["A1"] = "abc"
    data["scores"]["A2"] = "99"
    data["decision"] = "maybe"

    with pytest.raises(InvalidInput) as raised:
        tasks.complete(session, world.users["county"], task.id, data)

    errors = raised.value.details["errors"]
    assert "not a number" in errors["scores.A1"]
    assert "at most 5" in errors["scores.A2"]
    assert "choose one of" in errors["decision"]
    assert snapshot(session, task.id) == before


def test_incomplete_submission_lists_what_is_missing(session, world):
    """Submitting without evidence or explanations names each missing piece."""
    task = task_for(session, world.users["school"], "school")
    with pytest.raises(InvalidInput) as raised:
        tasks.complete(
            session,
            world.users["school"],
            task.id,
            {
                "responses": {
                    "A1": {"self_score": "6", "explanation": "x"},
                    "D1": {"self_score": "1"},
                }
            },
        )
    errors = raised.value.details["errors"]
    assert errors["A1.self_score"] == "must be at most 5"
    assert errors["D1"] == "not an indicator this unit answers"
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Submission)) == 0
    assert session.get(HumanTask, task.id).state == "ready"


def test_office_only_indicator_cannot_take_evidence(session, world):
    """Uploading evidence for an office-only indicator is refused clearly."""
    from app.services.demo import tiny_png

    task = task_for(session, world.users["school"], "school")
    with pytest.raises(InvalidInput, match="office only"):
        submissions.attach_evidence(
            session,
            world.users["school"],
            task.id,
            "D1",
            filename="a.png",
            content=tiny_png(),
            upload_folder=world.upload_folder,
        )


def test_unknown_form_key_on_a_task_is_a_clear_error(session, world):
    """A task whose form key the platform does not know cannot be completed."""
    task = task_for(session, world.users["school"], "school")
    task.form_key = "survey"
    session.commit()
    with pytest.raises(EngineError, match="form 'survey'"):
        tasks.complete(session, world.users["school"], task.id, {})
    assert session.get(HumanTask, task.id).state == "ready"


def test_task_no_longer_ready_in_the_workflow_is_refused(session, world):
    """A stale human-task row whose workflow moved on gives Conflict, not a crash."""
    submit(session, world, "school")
    done = session.scalars(
        select(HumanTask).where(
            HumanTask.unit_id == world.units["school"].id,
            HumanTask.state == "completed",
        )
    ).one()
    done.state = "ready"
    session.commit()
    with pytest.raises(Conflict, match="no longer waiting"):
        tasks.complete(session, world.users["school"], done.id, {"responses": {}})


def test_stale_form_version_is_refused(session, world):
    """A form opened before someone else's step is refused with a reload hint."""
    submit(session, world, "school")
    task = task_for(session, world.users["county"], "school")
    seen = runner.load_instance(session, task.instance_id).lock_version
    with pytest.raises(Conflict, match="reload"):
        tasks.complete(
            session,
            world.users["county"],
            task.id,
            review_data(world.system, "approve"),
            expected_version=seen - 1,
        )
    assert session.get(HumanTask, task.id).state == "ready"
