"""E-mail outbox: queued once, sent over a real SMTP server exactly once."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import OutboxMessage
from app.services import mail

NOW = datetime.now(UTC) + timedelta(hours=1)
REMINDER = {
    "display_name": "张老师",
    "task_title": "填报创建材料",
    "instance_title": "2026年第四季度测评",
    "due_at": "2026-12-05 17:00",
    "url": "https://wenming.example/tasks/7",
}


class Collector:
    """Keep every message the SMTP server accepts."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(parsed)
        return "250 Message accepted for delivery"

    def keys(self) -> Counter:
        """Count the received messages by subject."""
        return Counter(str(m["Subject"]) for m in self.messages)


def free_port() -> int:
    """Return a local TCP port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, collector: Collector, **options) -> Controller:
    """Start an SMTP server on 127.0.0.1 at `port`."""
    controller = Controller(collector, hostname="127.0.0.1", port=port, **options)
    controller.start()
    return controller


@pytest.fixture
def smtp_server():
    """Run a real SMTP server that collects what it receives."""
    collector = Collector()
    port = free_port()
    controller = start_server(port, collector)
    collector.settings = mail.SmtpSettings(host="127.0.0.1", port=port, starttls=False)
    yield collector
    controller.stop()


def queue(session, key: str, subject: str = "subject", body: str = "body") -> bool:
    """Queue one message to a test address and commit."""
    new = mail.queue_message(
        session,
        to_address="liaison@school.example",
        subject=subject,
        body_text=body,
        dedupe_key=key,
    )
    session.commit()
    return new


def outbox(session) -> list[OutboxMessage]:
    """Return every outbox message, freshly read."""
    session.expire_all()
    return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_same_key_queued_twice_makes_one_message(session):
    """Queueing a reminder twice under one key leaves one message in the outbox."""
    key = "reminder:12:Timer_remind:2026-12-05T09:00:00+00:00"

    assert queue(session, key) is True
    assert queue(session, key) is False

    assert [m.dedupe_key for m in outbox(session)] == [key]


def test_queue_leaves_commit_to_caller(session):
    """A queued message disappears when the caller's transaction rolls back."""
    mail.queue_message(
        session, to_address="a@b.example", subject="s", body_text="b", dedupe_key="k"
    )
    session.rollback()

    assert outbox(session) == []


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
def test_rendered_reminder_is_received_once(session, smtp_server, locale):
    """A rendered reminder reaches the server once with its subject and body."""
    subject, body = mail.render("reminder", locale, **REMINDER)
    queue(session, "reminder:1", subject, body)

    first = mail.send_due(session, smtp=smtp_server.settings, now=NOW)
    second = mail.send_due(session, smtp=smtp_server.settings, now=NOW)

    assert (first.sent, second.sent) == (1, 0)
    [received] = smtp_server.messages
    assert received["Subject"] == subject
    assert received["To"] == "liaison@school.example"
    assert received.get_content() == body
    assert "填报创建材料" in subject and REMINDER["url"] in body
    [message] = outbox(session)
    assert (message.status, message.sent_at) == ("sent", NOW)


def test_every_template_renders_in_both_languages():
    """Each mail kind has a Chinese and an English subject line and body."""
    context = REMINDER | {
        "unit_name": "实验小学",
        "date": "2026-12-03",
        "items": [{"title": "填报", "due_at": None, "url": "https://x/1"}],
    }
    subjects = {}
    for name in ("reminder", "escalation", "task_arrived", "digest"):
        for locale in ("zh_Hans", "en"):
            subject, body = mail.render(name, locale, **context)
            assert subject and "\n" not in subject
            assert context["display_name"] in body
            subjects[name, locale] = subject

    assert subjects["digest", "zh_Hans"] != subjects["digest", "en"]
    assert "实验小学" in subjects["escalation", "zh_Hans"]


def test_unreachable_server_is_retried_later(session):
    """Mail to a server that is down waits and then goes out when it is back."""
    port = free_port()
    settings = mail.SmtpSettings(host="127.0.0.1", port=port, starttls=False)
    queue(session, "task_arrived:5", "新任务")

    report = mail.send_due(session, smtp=settings, now=NOW)

    [message] = outbox(session)
    assert report.retrying == 1
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.next_attempt_at == NOW + timedelta(minutes=1)
    assert "Connection" in message.last_error

    collector = Collector()
    controller = start_server(port, collector)
    try:
        early = mail.send_due(session, smtp=settings, now=NOW + timedelta(seconds=30))
        later = mail.send_due(session, smtp=settings, now=NOW + timedelta(minutes=1))
    finally:
        controller.stop()

    assert (early.sent, later.sent) == (0, 1)
    assert collector.keys() == Counter({"新任务": 1})
    assert outbox(session)[0].status == "sent"


def test_message_fails_after_six_attempts(session):
    """After six refused attempts, with growing pauses, a message is given up."""
    settings = mail.SmtpSettings(host="127.0.0.1", port=free_port(), starttls=False)
    queue(session, "escalation:1")
    now, pauses = NOW, []

    for _ in range(6):
        mail.send_due(session, smtp=settings, now=now)
        message = outbox(session)[0]
        pauses.append(message.next_attempt_at - now)
        now = message.next_attempt_at

    assert (message.status, message.attempts) == ("failed", 6)
    minutes = [p // timedelta(minutes=1) for p in pauses[:5]]
    assert minutes == [1, 5, 30, 60, 60]


def test_message_stuck_sending_is_recovered(session, smtp_server):
    """A message left "sending" by a dead process is sent after ten minutes."""
    queue(session, "reminder:stuck", "stuck")
    queue(session, "reminder:busy", "busy")
    session.execute(
        update(OutboxMessage).values(status="sending", sending_started_at=NOW)
    )
    session.commit()

    soon = mail.send_due(
        session, smtp=smtp_server.settings, now=NOW + timedelta(minutes=5)
    )
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.dedupe_key == "reminder:busy")
        .values(sending_started_at=NOW + timedelta(minutes=4))
    )
    session.commit()
    later = mail.send_due(
        session, smtp=smtp_server.settings, now=NOW + timedelta(minutes=11)
    )

    assert (soon.recovered, soon.sent) == (0, 0)
    assert (later.recovered, later.sent) == (1, 1)
    assert smtp_server.keys() == Counter({"stuck": 1})
    statuses = {m.dedupe_key: m.status for m in outbox(session)}
    assert statuses == {"reminder:stuck": "sent", "reminder:busy": "sending"}


def test_no_smtp_host_logs_instead(session, caplog):
    """Without an SMTP host, e-mail is written to the log and marked sent."""
    queue(session, "digest:1", "每日摘要", "两项待办")
    settings = mail.SmtpSettings.from_config({"WENMING_SMTP_HOST": None})

    with caplog.at_level(logging.INFO, logger="app.services.mail"):
        report = mail.send_due(session, smtp=settings, now=NOW)

    assert report.sent == 1
    assert "每日摘要" in caplog.text and "两项待办" in caplog.text
    assert outbox(session)[0].status == "sent"


def test_login_when_a_user_is_configured(session, app):
    """With a user configured, the server sees a login before the message."""
    logins = []

    def authenticator(server, session_, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=True)

    collector, port = Collector(), free_port()
    controller = start_server(
        port, collector, authenticator=authenticator, auth_require_tls=False
    )
    config = app.config | {
        "WENMING_SMTP_HOST": "127.0.0.1",
        "WENMING_SMTP_PORT": port,
        "WENMING_SMTP_USER": "wenming",
        "WENMING_SMTP_PASSWORD": "secret",
        "WENMING_SMTP_STARTTLS": False,
        "WENMING_MAIL_FROM": "noreply@wenming.example",
    }
    queue(session, "reminder:auth", "auth")
    try:
        mail.send_due(session, smtp=mail.SmtpSettings.from_config(config), now=NOW)
    finally:
        controller.stop()

    assert logins == [(b"wenming", b"secret")]
    assert collector.messages[0]["From"] == "noreply@wenming.example"


def send_in_thread(app, settings, barrier, errors) -> None:
    """Send due mail in small batches in a session of its own until none is left."""
    with app.app_context():
        session = Session(db.engine)
        try:
            barrier.wait(timeout=10)
            while True:
                report = mail.send_due(session, smtp=settings, now=NOW, batch_size=3)
                if report.sent == 0 and report.retrying == 0:
                    break
        except Exception as error:  # reported by the assertion below
            errors.append(repr(error))
        finally:
            session.close()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_senders_deliver_each_message_once(app, session, smtp_server):
    """Two scheduler processes sending at once deliver every message exactly once."""
    count = 60
    for number in range(count):
        mail.queue_message(
            session,
            to_address=f"user{number}@unit.example",
            subject=f"m{number}",
            body_text="body",
            dedupe_key=f"race:{number}",
        )
    session.commit()
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
    assert smtp_server.keys() == Counter({f"m{n}": 1 for n in range(count)})
    sent = session.scalar(select(func.count()).where(OutboxMessage.status == "sent"))
    assert sent == count


def test_slow_batch_hands_back_unsent_messages(session, smtp_server, monkeypatch):
    """A batch past its sending window returns unsent mail to the outbox unharmed."""
    monkeypatch.setattr(mail, "SEND_WINDOW", timedelta(0))
    queue(session, "digest:a", "a")
    queue(session, "digest:b", "b")

    report = mail.send_due(session, smtp=smtp_server.settings, now=NOW)

    assert (report.sent, report.released) == (0, 2)
    assert smtp_server.messages == []
    assert {(m.status, m.attempts) for m in outbox(session)} == {("pending", 0)}
