"""Deadline timers: due times are recorded, and fire once with a frozen clock."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlalchemy import select

from app.models import AuditEvent, ProcessInstance
from app.services.timers import fire_due_timers
from tests.factories import ready_tasks, submit


def hospital_instance(session, world) -> ProcessInstance:
    """Return the hospital's creation task instance."""
    return session.scalars(
        select(ProcessInstance).where(
            ProcessInstance.unit_id == world.units["hospital"].id
        )
    ).one()


def notifications(session, action: str) -> list[dict]:
    """Return the detail of every audit event with this action."""
    return [e.detail for e in session.scalars(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    )]


def test_next_timer_due_is_the_reminder_before_the_deadline(session, world):
    """After issuance the instance records its reminder time, two days ahead."""
    instance = hospital_instance(session, world)
    expected = world.cycle.submission_due - timedelta(days=2)
    assert instance.next_timer_due_at == expected


def test_reminder_and_escalation_fire_once_each(session, world):
    """Travel past the reminder, then past the deadline: one notice of each kind."""
    due = world.cycle.submission_due
    units = len(world.units)

    with time_machine.travel(due - timedelta(days=1), tick=False):
        report = fire_due_timers(session)
        assert report.fired == units
        again = fire_due_timers(session)
        assert again.fired == 0
    reminders = notifications(session, "notification.queued")
    assert len(reminders) == units
    assert {r["kind"] for r in reminders} == {"submit_materials_reminder"}
    assert notifications(session, "escalation.raised") == []

    instance = hospital_instance(session, world)
    session.refresh(instance)
    assert instance.next_timer_due_at == due

    with time_machine.travel(due + timedelta(hours=1), tick=False):
        fire_due_timers(session)
        fire_due_timers(session)
    escalations = notifications(session, "escalation.raised")
    assert len(escalations) == units
    assert {e["kind"] for e in escalations} == {"submit_materials_overdue"}
    assert [t.bpmn_id for t in ready_tasks(session, world.units["hospital"])] == [
        "submit_materials"
    ]


def test_no_reminder_for_a_task_already_done(session, world):
    """A submission made before the reminder time cancels its reminder."""
    submit(session, world, "hospital")
    due = world.cycle.submission_due
    with time_machine.travel(due - timedelta(days=1), tick=False):
        fire_due_timers(session)
    hospital = world.units["hospital"].id
    kinds = [n["kind"] for n in notifications(session, "notification.queued")
             if n["unit_id"] == hospital]
    assert "submit_materials_reminder" not in kinds


def test_review_deadline_timer_follows_the_task(session, world):
    """Once submitted, the next timer is the county review reminder."""
    submit(session, world, "hospital")
    instance = hospital_instance(session, world)
    session.refresh(instance)
    expected = world.cycle.county_review_due - timedelta(days=2)
    assert instance.next_timer_due_at == expected
