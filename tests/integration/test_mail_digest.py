"""The daily digest: one e-mail a day listing what still waits, never sent twice."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import Notification
from app.services import notification_mail
from scheduler import jobs
from tests.factories import ready_tasks, submit
from tests.integration import test_mail, test_notification_mail
from tests.integration.test_notification_mail import (
    BASE_URL,
    hospital_task,
    issue,
    outbox,
    received,
    remind,
    send,
    set_user,
)

links = test_notification_mail.links
mail_world = test_notification_mail.mail_world
smtp_server = test_mail.smtp_server
SHANGHAI = ZoneInfo("Asia/Shanghai")


def morning(days: int = 1, hour: int = 8, minute: int = 5) -> datetime:
    """Return a time of day in Shanghai `days` from today."""
    today = datetime.now(SHANGHAI).date() + timedelta(days=days)
    return datetime(today.year, today.month, today.day, hour, minute, tzinfo=SHANGHAI)


def digests(session) -> list:
    """Return the queued digest messages."""
    return [m for m in outbox(session) if m.dedupe_key.startswith("digest:")]


def test_digest_lists_each_users_waiting_items_once(session, mail_world, smtp_server):
    """A digest user gets one message with their items; a second run adds nothing."""
    set_user(session, mail_world, "hospital", email_mode="digest")
    set_user(session, mail_world, "school", email_mode="digest", locale="en")
    issue(session, mail_world)
    remind(session, mail_world, "hospital")
    at = morning()

    first = notification_mail.send_digests(session, now=at)
    remind(session, mail_world, "school")
    again = notification_mail.send_digests(session, now=at + timedelta(hours=3))
    send(session, smtp_server, at)

    assert (first.sent, first.items) == (2, 3)
    assert (again.sent, again.already_sent) == (0, 1)
    [chinese] = received(smtp_server, "hospital@wenming.example")
    task = hospital_task(session, mail_world)
    assert chinese["Subject"] == f"【文明创建】{at.date().isoformat()} 待办摘要：2 项"
    body = chinese.get_content()
    assert body.count(f"{BASE_URL}/tasks/{task.id}") == 2
    assert "即将到期" in body
    [english] = received(smtp_server, "school@wenming.example")
    assert english["Subject"].startswith("[Wenming] Your tasks on")
    assert "1 open task(s)" in english.get_content()
    pending = session.scalars(
        select(Notification).where(Notification.mailed_at.is_(None))
    )
    left_for_tomorrow = [n.kind for n in pending if n.user_id == school_id(mail_world)]
    assert left_for_tomorrow == ["submit_materials_reminder"]
    assert mail_world.users["hospital"].id not in {n.user_id for n in pending}


def test_digest_skips_tasks_no_longer_waiting(session, mail_world, smtp_server):
    """A task done before the digest is left out; nothing left means no e-mail."""
    set_user(session, mail_world, "hospital", email_mode="digest")
    issue(session, mail_world)
    remind(session, mail_world, "hospital")
    submit(session, mail_world, "hospital")

    report = notification_mail.send_digests(session, now=morning())

    assert report.sent == 0
    assert digests(session) == []
    hospital = mail_world.users["hospital"].id
    notes = session.scalars(
        select(Notification).where(Notification.user_id == hospital)
    )
    assert all(n.mailed_at is not None for n in notes)


def school_id(world) -> int:
    """Return the school liaison's user id."""
    return world.users["school"].id


def test_next_days_digest_brings_only_new_items(app, session, mail_world, smtp_server):
    """Items already in yesterday's digest are not listed again today."""
    set_user(session, mail_world, "hospital", email_mode="digest")
    issue(session, mail_world)
    notification_mail.send_digests(session, now=morning(1))
    remind(session, mail_world, "hospital")

    with time_machine.travel(morning(2, minute=0), tick=False):
        report = jobs.send_digest_job(app)
    send(session, smtp_server, morning(2))

    assert (report.sent, report.items) == (1, 1)
    hospital = received(smtp_server, "hospital@wenming.example")
    subjects = sorted(m["Subject"] for m in hospital)
    assert [s.endswith("1 项") for s in subjects] == [True, True]
    assert len({m.dedupe_key for m in digests(session)}) == 2


def test_digest_job_waits_for_the_configured_hour(app, session, mail_world):
    """Before WENMING_DIGEST_HOUR nothing is queued; from that hour on, it is."""
    app.config["WENMING_DIGEST_HOUR"] = 9
    set_user(session, mail_world, "hospital", email_mode="digest")
    issue(session, mail_world)

    with time_machine.travel(morning(hour=8, minute=59), tick=False):
        early = jobs.send_digest_job(app)
    with time_machine.travel(morning(hour=9, minute=0), tick=False):
        due = jobs.send_digest_job(app)

    assert (early.sent, due.sent) == (0, 1)


def test_immediate_and_off_users_get_no_digest(session, mail_world):
    """Users who chose immediate e-mail or none are never in a digest."""
    set_user(session, mail_world, "school", email_mode="off")
    issue(session, mail_world)

    report = notification_mail.send_digests(session, now=morning())

    assert report.users == 0
    assert digests(session) == []
    assert [m.to_address for m in outbox(session)] == ["hospital@wenming.example"]


def digest_in_thread(app, at, barrier, reports, errors) -> None:
    """Run the digest in a session of its own, started together with the others."""
    with app.app_context():
        session = Session(db.engine)
        try:
            barrier.wait(timeout=10)
            reports.append(notification_mail.send_digests(session, now=at))
        except Exception as error:  # reported by the assertion below
            errors.append(repr(error))
        finally:
            session.close()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_schedulers_queue_one_digest_per_user(app, session, mail_world):
    """Two digest runs at the same moment on PostgreSQL queue one digest per user."""
    for code in ("hospital", "school"):
        set_user(session, mail_world, code, email_mode="digest")
    issue(session, mail_world)
    for code in ("hospital", "school"):
        remind(session, mail_world, code)
    barrier, reports, errors = threading.Barrier(2), [], []
    threads = [
        threading.Thread(
            target=digest_in_thread, args=(app, morning(), barrier, reports, errors)
        )
        for _ in range(2)
    ]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(r.sent for r in reports) == 2
    assert Counter(m.to_address for m in digests(session)) == {
        "hospital@wenming.example": 1,
        "school@wenming.example": 1,
    }
    assert ready_tasks(session, mail_world.units["hospital"])
