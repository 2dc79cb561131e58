"""Timers fired a batch per transaction, by worker processes, with e-mail following."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import AuditEvent, Cycle, Notification, ProcessInstance, Unit, User
from app.services import timers as timer_service
from app.services.base import transaction
from processes import timers
from scheduler import jobs, runtime
from scheduler.timer_workers import TimerWorkers
from tests.factories import build_world, submit
from tests.integration.test_mail import smtp_server  # noqa: F401

REMINDER = "submit_materials_reminder"


def fired_per_instance(session) -> Counter:
    """Return how many times each instance's timers fired, from the audit trail."""
    rows = session.scalars(
        select(AuditEvent.instance_id).where(AuditEvent.action == "timer.fired")
    )
    return Counter(rows)


def reminders_per_user(session) -> Counter:
    """Return how many submission reminders each user was given."""
    rows = session.scalars(
        select(Notification.user_id).where(Notification.kind == REMINDER)
    )
    return Counter(rows)


def liaison_ids(world, units=None) -> set[int]:
    """Return the ids of the liaisons of the world's units (or of some of them)."""
    return {world.users[code].id for code in units or world.units}


@pytest.fixture
def due_world(app, session):
    """Build the world as of 13 days ago, so its reminders are due on the real clock.

    Worker processes and a running scheduler read the real clock, not a travelled
    one; the submission deadline is then a day ahead and its reminder a day past.
    """
    thirteen_days_ago = datetime.now(UTC) - timedelta(days=13)
    with time_machine.travel(thirteen_days_ago, tick=True):
        world = build_world(session, Path(app.config["WENMING_UPLOAD_FOLDER"]))
    session.commit()
    return world


def test_small_batches_fire_every_instance_once(session, due_world, monkeypatch):
    """With two instances per transaction, every unit gets exactly one reminder."""
    monkeypatch.setattr(timer_service, "WRITE_BATCH_SIZE", 2)

    report = timer_service.fire_due_timers(session)
    again = timer_service.fire_due_timers(session)

    units = len(due_world.units)
    assert (report.fired, report.conflicts, report.failed) == (units, 0, 0)
    assert again.fired == 0
    assert set(fired_per_instance(session).values()) == {1}
    assert reminders_per_user(session) == Counter(
        {user_id: 1 for user_id in liaison_ids(due_world)}
    )


def test_a_unit_submitting_mid_batch_gets_no_reminder_and_others_one(
    app, session, due_world, monkeypatch
):
    """The hospital submits while its batch fires: the batch is redone one by one.

    Nothing of the first try is kept; the hospital's reminder is dropped because
    its task is done, and every other unit is reminded once.
    """
    hospital = due_world.units["hospital"].id
    fire_in_memory = timers._fire_in_memory
    submitted = []

    def submit_meanwhile(session_, instance):
        fired = fire_in_memory(session_, instance)
        if instance.unit_id == hospital and not submitted:
            with Session(db.engine) as other:
                submit(other, _world_in(other, due_world, "hospital"), "hospital")
            submitted.append(True)
        return fired

    monkeypatch.setattr(timers, "_fire_in_memory", submit_meanwhile)
    report = timer_service.fire_due_timers(session)

    session.expire_all()
    others = [code for code in due_world.units if code != "hospital"]
    assert submitted
    assert (report.fired, report.conflicts) == (len(others), 1)
    assert reminders_per_user(session) == Counter(
        {user_id: 1 for user_id in liaison_ids(due_world, others)}
    )
    hospital_instance = session.scalars(
        select(ProcessInstance.id).where(ProcessInstance.unit_id == hospital)
    ).one()
    assert hospital_instance not in fired_per_instance(session)


def test_an_instance_fired_meanwhile_elsewhere_is_reminded_once(
    app, session, due_world, monkeypatch
):
    """Another scheduler fires the hospital's timer mid-batch: one reminder, not two."""
    hospital = due_world.units["hospital"].id
    fire_in_memory = timers._fire_in_memory
    elsewhere = []

    def fire_meanwhile(session_, instance):
        fired = fire_in_memory(session_, instance)
        if instance.unit_id == hospital and not elsewhere:
            elsewhere.append(None)
            with Session(db.engine) as other:
                now = datetime.now(UTC)
                elsewhere[0] = timer_service._fire_batch(other, [instance.id], now)
        return fired

    monkeypatch.setattr(timers, "_fire_in_memory", fire_meanwhile)
    report = timer_service.fire_due_timers(session)

    session.expire_all()
    assert [batch.fired for batch in elsewhere] == [1]
    assert (report.fired, report.conflicts) == (len(due_world.units) - 1, 1)
    assert set(fired_per_instance(session).values()) == {1}
    assert reminders_per_user(session) == Counter(
        {user_id: 1 for user_id in liaison_ids(due_world)}
    )


def _world_in(other: Session, world, code: str):
    """Return the world with one unit and its liaison loaded by another session."""
    return replace(
        world,
        cycle=other.get(Cycle, world.cycle.id),
        users={code: other.get(User, world.users[code].id)},
        units={code: other.get(Unit, world.units[code].id)},
    )


def test_shares_split_the_due_instances_without_overlap(session, due_world):
    """Worker k of 3 takes the due instances whose id modulo 3 is k, and no other."""
    now = datetime.now(UTC)
    everyone = set(timers.due_instance_ids(session, now))
    shares = [
        set(timers.due_instance_ids(session, now, shard=(index, 3)))
        for index in range(3)
    ]

    assert len(everyone) == len(due_world.units)
    assert set().union(*shares) == everyone
    assert sum(len(share) for share in shares) == len(everyone)


def test_worker_processes_fire_each_instance_once(app, session, due_world):
    """Two real worker processes fire all due timers between them, each once."""
    committed = []
    workers = TimerWorkers(app, 2)
    try:
        report = workers.fire_due(committed.append)
        again = workers.fire_due(committed.append)
    finally:
        workers.close()

    session.expire_all()
    assert report.fired == len(due_world.units)
    assert again.fired == 0
    assert sum(batch.fired for batch in committed) == report.fired
    assert set(fired_per_instance(session).values()) == {1}
    assert set(reminders_per_user(session).values()) == {1}


def test_reminders_are_mailed_at_once_not_at_the_next_interval(
    app,
    session,
    due_world,
    smtp_server,  # noqa: F811
):
    """With one-minute jobs, reminders fired now reach the mail server in seconds."""
    with transaction(session):
        for code in due_world.units:
            due_world.users[code].email = f"{code}@wenming.example"
    app.config.update(
        WENMING_SMTP_HOST=smtp_server.settings.host,
        WENMING_SMTP_PORT=smtp_server.settings.port,
        WENMING_SMTP_STARTTLS=False,
        WENMING_SCHEDULER_INTERVAL_SECONDS=60,
    )
    expected = {f"{code}@wenming.example" for code in due_world.units}

    scheduler = runtime.build_scheduler(app, blocking=False)
    try:
        scheduler.start()
        scheduler.modify_job(runtime.TIMER_JOB_ID, next_run_time=datetime.now(UTC))
        deadline = time.monotonic() + 20
        while len(smtp_server.messages) < len(expected) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        scheduler.shutdown(wait=True)
        jobs.bind_app(app)

    assert Counter(m["To"] for m in smtp_server.messages) == Counter(expected)
    unmailed = session.scalar(
        select(func.count())
        .select_from(Notification)
        .join(User, User.id == Notification.user_id)
        .where(Notification.kind == REMINDER, Notification.mailed_at.is_(None))
    )
    assert unmailed == 0
