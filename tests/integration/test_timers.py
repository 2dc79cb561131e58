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
    return [
        e.detail
        for e in session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == action)
            .order_by(AuditEvent.id)
        )
    ]


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
    kinds = [
        n["kind"]
        for n in notifications(session, "notification.queued")
        if n["unit_id"] == hospital
    ]
    assert "submit_materials_reminder" not in kinds


def test_review_deadline_timer_follows_the_task(session, world):
    """Once submitted, the next timer is the county review reminder."""
    submit(session, world, "hospital")
    instance = hospital_instance(session, world)
    session.refresh(instance)
    expected = world.cycle.county_review_due - timedelta(days=2)
    assert instance.next_timer_due_at == expected


BROKEN_TIMER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs" targetNamespace="http://example.org/wenming">
  <bpmn:process id="broken_reminder" name="坏的提醒" isExecutable="true">
    <bpmn:laneSet id="lanes"><bpmn:lane id="lane_unit" name="unit">
      <bpmn:flowNodeRef>submit</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="submit" />
    <bpmn:userTask id="submit" name="上报"><bpmn:extensionElements>
      <spiffworkflow:properties>
        <spiffworkflow:property name="form" value="unit_submission" />
      </spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="submit" targetRef="done" />
    <bpmn:endEvent id="done" />
    <bpmn:boundaryEvent id="remind" name="提醒" attachedToRef="submit"
        cancelActivity="false">
      <bpmn:timerEventDefinition>
        <bpmn:timeDate>due</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="remind" targetRef="divide" />
    <bpmn:scriptTask id="divide" name="计算"><bpmn:script>share = 1 / zero</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f4" sourceRef="divide" targetRef="divided" />
    <bpmn:endEvent id="divided" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_failing_timer_branch_stops_only_its_instance(session, world):
    """A diagram error while a timer fires marks that instance; others still fire."""
    from app.services.base import transaction
    from forms.registry import FORM_KEYS
    from processes import registry, runner
    from processes.lint import KNOWN_LANES

    due = world.cycle.submission_due - timedelta(days=3)
    with transaction(session):
        version = registry.deploy(
            session,
            BROKEN_TIMER.encode(),
            filename="broken.bpmn",
            form_keys=FORM_KEYS,
            lanes=KNOWN_LANES,
        ).version
        broken = runner.start_instance(
            session,
            version,
            runner.StartRequest(
                business_key="broken:1",
                data={"due": due.isoformat(), "zero": 0},
                scope_path=world.units["school"].path,
                unit_id=world.units["school"].id,
            ),
        ).instance

    with time_machine.travel(
        world.cycle.submission_due - timedelta(days=1), tick=False
    ):
        report = fire_due_timers(session)
        again = fire_due_timers(session)

    assert (report.fired, report.failed) == (len(world.units), 1)
    assert (again.fired, again.failed) == (0, 0)
    session.refresh(broken)
    assert broken.status == "error" and broken.next_timer_due_at is None
    failure = notifications(session, "instance.failed")[0]
    assert "divide" in failure["error"] and "division by zero" in failure["error"]
