"""Notification e-mail: at once, in a daily digest or not at all, each message once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select, update

from app.models import HumanTask, Notification
from app.services import cycles, mail, notification_mail
from app.services.base import transaction
from app.services.effects import apply_effects
from app.services.timers import fire_due_timers
from processes.effects import Effect
from processes.runner import StepResult
from scheduler import jobs
from tests.factories import build_world, ready_tasks, submit
from tests.integration import test_mail
from tests.integration.test_mail import outbox, send_in_thread

smtp_server = test_mail.smtp_server
BASE_URL = "https://wenming.example.gov.cn"
REMINDER = "submit_materials_reminder"


@pytest.fixture
def links(app):
    """Point e-mail links at the site's public address."""
    app.config["WENMING_BASE_URL"] = BASE_URL
    notification_mail.configure(app.config)
    yield
    notification_mail.configure({})


@pytest.fixture
def mail_world(session, app, links):
    """Build the sample world where two liaisons and the county have e-mail."""
    world = build_world(session, Path(app.config["WENMING_UPLOAD_FOLDER"]), issue=False)
    with transaction(session):
        for name in ("hospital", "school", "county"):
            world.users[name].email = f"{name}@wenming.example"
    return world


def issue(session, world) -> None:
    """Issue the world's cycle to every unit."""
    cycles.issue_cycle(session, world.cycle)


def set_user(session, world, username: str, **values) -> None:
    """Change a user's settings and commit."""
    with transaction(session):
        for name, value in values.items():
            setattr(world.users[username], name, value)


def hospital_task(session, world) -> HumanTask:
    """Return the hospital's waiting submission task."""
    return ready_tasks(session, world.units["hospital"])[0]


def remind(session, world, unit: str = "hospital") -> None:
    """Run the diagram's reminder for a unit's submission, as its timer does."""
    task = ready_tasks(session, world.units[unit])[0]
    with transaction(session):
        effect = Effect("notify", {"lane": "unit", "kind": REMINDER})
        apply_effects(session, [StepResult(task.instance, [effect])])


def reminder_time(world) -> datetime:
    """Return a moment just after the submission reminders fell due."""
    return world.cycle.submission_due - timedelta(days=2) + timedelta(minutes=5)


def send(session, server, now: datetime | None = None) -> mail.SendReport:
    """Send everything due to the test server."""
    later = (now or datetime.now(UTC)) + timedelta(minutes=1)
    return mail.send_due(session, smtp=server.settings, now=later)


def received(server, to: str) -> list:
    """Return the messages the server received for an address."""
    return [m for m in server.messages if m["To"] == to]


def mailed(session, world, username: str) -> list[bool]:
    """Tell, for each of a user's notifications, whether it went out by e-mail."""
    query = (
        select(Notification)
        .where(Notification.user_id == world.users[username].id)
        .order_by(Notification.id)
    )
    return [n.mailed_at is not None for n in session.scalars(query)]


def keys(session, prefix: str) -> list[str]:
    """Return the outbox keys starting with a prefix."""
    return sorted(
        m.dedupe_key for m in outbox(session) if m.dedupe_key.startswith(prefix)
    )


def test_new_task_is_mailed_once_with_a_link(session, mail_world, smtp_server):
    """A liaison with e-mail hears of the new creation task once, in Chinese."""
    issue(session, mail_world)
    task = hospital_task(session, mail_world)

    first = send(session, smtp_server)
    second = send(session, smtp_server)

    assert (first.sent, second.sent) == (2, 0)
    [message] = received(smtp_server, "hospital@wenming.example")
    assert message["Subject"] == f"【文明创建】新任务：{task.title}"
    body = message.get_content()
    assert f"{BASE_URL}/tasks/{task.id}" in body
    assert mail_world.cycle.name in body
    school_task = ready_tasks(session, mail_world.units["school"])[0]
    assert keys(session, "task_arrived") == sorted(
        [
            f"task_arrived:{task.id}:{mail_world.users['hospital'].id}",
            f"task_arrived:{school_task.id}:{mail_world.users['school'].id}",
        ]
    )
    assert mailed(session, mail_world, "hospital") == [True]
    assert mailed(session, mail_world, "bank") == [False]


def test_english_user_gets_english_mail(session, mail_world, smtp_server):
    """A liaison who reads English gets the new-task e-mail in English."""
    set_user(session, mail_world, "hospital", locale="en")
    issue(session, mail_world)

    send(session, smtp_server)

    [message] = received(smtp_server, "hospital@wenming.example")
    assert message["Subject"].startswith("[Wenming] New task:")
    assert "Dear hospital," in message.get_content()
    [chinese] = received(smtp_server, "school@wenming.example")
    assert chinese["Subject"].startswith("【文明创建】新任务")


def test_user_without_email_or_with_mail_off_gets_none(
    session, mail_world, smtp_server
):
    """Mode "off" and a missing address leave notifications in the app only."""
    set_user(session, mail_world, "school", email_mode="off")
    issue(session, mail_world)

    send(session, smtp_server)

    assert [m["To"] for m in smtp_server.messages] == ["hospital@wenming.example"]
    assert mailed(session, mail_world, "school") == [False]


def test_reminder_is_mailed_once_when_the_timer_job_runs_twice(
    app, session, mail_world, smtp_server
):
    """Past the reminder time, running the timer job twice mails each liaison once."""
    issue(session, mail_world)
    send(session, smtp_server)
    smtp_server.messages.clear()
    session.commit()

    with time_machine.travel(reminder_time(mail_world), tick=False):
        first = jobs.fire_due_timers_job(app)
        again = jobs.fire_due_timers_job(app)
        report = send(session, smtp_server, datetime.now(UTC))

    assert first.fired == len(mail_world.units) and again.fired == 0
    assert report.sent == 2
    assert Counter(m["To"] for m in smtp_server.messages) == {
        "hospital@wenming.example": 1,
        "school@wenming.example": 1,
    }
    message = received(smtp_server, "hospital@wenming.example")[0]
    task = hospital_task(session, mail_world)
    assert "提醒" in message["Subject"] and task.title in message["Subject"]
    assert f"{BASE_URL}/tasks/{task.id}" in message.get_content()
    reminder = session.scalars(
        select(Notification).where(Notification.kind == REMINDER)
    ).first()
    assert reminder.task_id == task.id


def test_reminder_run_again_does_not_mail_again(session, mail_world, smtp_server):
    """A reminder the diagram raises twice for one due time is mailed once."""
    issue(session, mail_world)
    send(session, smtp_server)
    smtp_server.messages.clear()

    remind(session, mail_world)
    remind(session, mail_world)
    send(session, smtp_server)

    assert len(received(smtp_server, "hospital@wenming.example")) == 1
    notes = session.scalar(
        select(func.count()).where(
            Notification.kind == REMINDER,
            Notification.user_id == mail_world.users["hospital"].id,
        )
    )
    assert notes == 2


def test_reminder_for_a_new_due_time_is_mailed_again(session, mail_world, smtp_server):
    """Once the deadline moves and the timer fires again, a new reminder goes out."""
    issue(session, mail_world)
    remind(session, mail_world)
    task = hospital_task(session, mail_world)
    old_due, new_due = task.due_at, task.due_at + timedelta(days=3)
    with transaction(session):
        session.execute(
            update(HumanTask).where(HumanTask.id == task.id).values(due_at=new_due)
        )
    remind(session, mail_world)

    send(session, smtp_server)

    subjects = [m["Subject"] for m in received(smtp_server, "hospital@wenming.example")]
    assert len([s for s in subjects if "提醒" in s]) == 2
    user = mail_world.users["hospital"].id
    assert keys(session, "reminder") == sorted(
        f"reminder:{task.instance_id}:{REMINDER}:{due.isoformat()}:{user}"
        for due in (old_due, new_due)
    )


def test_reminder_for_a_task_done_before_sending_is_cancelled(
    session, mail_world, smtp_server
):
    """A liaison who submits before the reminder goes out never receives it."""
    issue(session, mail_world)
    send(session, smtp_server)
    smtp_server.messages.clear()
    remind(session, mail_world, "hospital")
    remind(session, mail_world, "school")

    submit(session, mail_world, "hospital")
    report = send(session, smtp_server)

    assert report.cancelled == 1
    reminded = [m["To"] for m in smtp_server.messages if "提醒" in m["Subject"]]
    assert reminded == ["school@wenming.example"]
    statuses = {
        m.to_address: m.status
        for m in outbox(session)
        if m.dedupe_key.startswith("reminder")
    }
    assert statuses == {
        "hospital@wenming.example": "cancelled",
        "school@wenming.example": "sent",
    }


def test_escalation_mails_the_office_above(session, mail_world, smtp_server):
    """Past the deadline, the county reviewer gets an overdue e-mail per unit."""
    issue(session, mail_world)
    set_user(session, mail_world, "hospital", email=None)
    set_user(session, mail_world, "school", email=None)

    with time_machine.travel(mail_world.cycle.submission_due + timedelta(hours=1)):
        fire_due_timers(session)
        fire_due_timers(session)
        send(session, smtp_server, datetime.now(UTC))

    county = received(smtp_server, "county@wenming.example")
    in_county = [u for u in mail_world.units.values() if u.code != "otherschool"]
    assert len(county) == len(in_county)
    assert all("已逾期" in m["Subject"] for m in county)
    assert any("县人民医院" in m["Subject"] for m in county)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_senders_deliver_each_reminder_once(app, session, mail_world, smtp_server):
    """Four threads sending the outbox at once on PostgreSQL deliver each mail once."""
    with transaction(session):
        for code in mail_world.units:
            mail_world.users[code].email = f"{code}@wenming.example"
    issue(session, mail_world)
    for code in mail_world.units:
        remind(session, mail_world, code)
    barrier, errors = threading.Barrier(4), []
    threads = [
        threading.Thread(
            target=send_in_thread, args=(app, smtp_server.settings, barrier, errors)
        )
        for _ in range(4)
    ]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    counts = Counter(m["To"] for m in smtp_server.messages)
    assert counts == {f"{code}@wenming.example": 2 for code in mail_world.units}
    assert {m.status for m in outbox(session)} == {"sent"}
