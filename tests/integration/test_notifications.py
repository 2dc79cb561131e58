"""In-app notifications: new tasks, returns, rectification, reminders, assignments."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from app.models import Notification
from app.services import notifications, tasks
from app.services.timers import fire_due_timers
from processes.errors import Forbidden, InvalidInput
from tests.factories import review, submit, task_for


def kinds_of(session, user) -> list[str]:
    """Return the kinds of the user's notifications, oldest first."""
    query = (
        select(Notification.kind)
        .where(Notification.user_id == user.id)
        .order_by(Notification.id)
    )
    return list(session.scalars(query))


def test_issued_task_reaches_each_liaison_once(session, world):
    """Issuance tells every liaison of their new submission task, nobody else."""
    assert kinds_of(session, world.users["school"]) == ["task_arrived"]
    assert kinds_of(session, world.users["county"]) == []
    assert notifications.unread_count(session, world.users["school"]) == 1


def test_submission_reaches_the_county_reviewers_in_scope(session, world):
    """A submitted task arrives for the county's reviewers, not another county's."""
    submit(session, world, "school")
    assert kinds_of(session, world.users["county"]) == ["task_arrived"]
    assert kinds_of(session, world.users["county_b"]) == ["task_arrived"]
    assert kinds_of(session, world.users["county2"]) == []
    assert kinds_of(session, world.users["city"]) == []


def test_rectification_order_is_announced_once(session, world):
    """The diagram's rectification notice reaches the liaison, without a duplicate."""
    submit(session, world, "school")
    review(session, world, "county", "school", "rectify")
    assert kinds_of(session, world.users["school"]) == [
        "task_arrived",
        "rectification_ordered",
    ]


def test_leader_return_is_a_returned_task(session, world):
    """A submission sent back by the unit leader tells the liaison it came back."""
    from app.services import cycles
    from app.services.base import transaction
    from tests.factories import make_cycle

    with transaction(session):
        world.units["hospital"].needs_leader_signoff = True
        cycle = make_cycle(session, world.offices["X01"], world.system, name="季度")
    cycles.issue_cycle(session, cycle)
    submit(session, world, "hospital", cycle=cycle)
    leader = world.users["hospital_leader"]
    assert kinds_of(session, leader) == ["task_arrived"]
    task = task_for(session, leader, "hospital")
    tasks.complete(session, leader, task.id, {"decision": "return", "opinion": "补"})
    assert kinds_of(session, world.users["hospital"])[-1] == "task_returned"


def test_reminder_and_escalation_reach_lane_and_office_above(session, world):
    """Before the deadline the liaison is reminded; after it the county is told."""
    due = world.cycle.submission_due
    with time_machine.travel(due - timedelta(days=1), tick=False):
        fire_due_timers(session)
    assert kinds_of(session, world.users["school"])[-1] == "submit_materials_reminder"

    with time_machine.travel(due + timedelta(hours=1), tick=False):
        fire_due_timers(session)
    escalations = session.scalars(
        select(Notification).where(
            Notification.user_id == world.users["county"].id,
            Notification.kind == "escalation",
        )
    ).all()
    assert len(escalations) == 6
    assert any(
        "县第一中学" in n.title and "单位上报材料" in n.title for n in escalations
    )
    assert kinds_of(session, world.users["county2"]) == ["escalation"]


def test_assignment_by_an_office_administrator(session, world):
    """The county administrator gives a task to a reviewer, who is told."""
    submit(session, world, "school")
    task = task_for(session, world.users["county"], "school")
    tasks.assign(session, world.users["county"], task.id, world.users["county_b"].id)
    assert tasks.get_task(session, world.users["county"], task.id).claimed_by_id == (
        world.users["county_b"].id
    )
    assert kinds_of(session, world.users["county_b"])[-1] == "assigned"

    with pytest.raises(InvalidInput, match="cannot work"):
        tasks.assign(session, world.users["county"], task.id, world.users["school"].id)
    with pytest.raises(Forbidden):
        tasks.assign(
            session, world.users["county_b"], task.id, world.users["county"].id
        )


def test_mark_read_clears_the_unread_count(session, world):
    """Reading notifications brings the bell's count to zero."""
    liaison = world.users["school"]
    assert notifications.unread_count(session, liaison) == 1
    notifications.mark_read(session, liaison)
    session.commit()
    assert notifications.unread_count(session, liaison) == 0
    assert notifications.recent(session, liaison)[0].read_at is not None
