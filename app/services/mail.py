"""E-mail: queue a message once, render it from a template, send it over SMTP.

Messages wait in the `outbox_messages` table. `send_due` claims the due ones so
that two scheduler processes never take the same message, sends them over one SMTP
connection, and retries failures with a growing pause. Times shown in a message are
formatted by the caller (in WENMING_TIMEZONE) before rendering.
"""

from __future__ import annotations

import functools
import logging
import smtplib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.header import Header
from email.mime.text import MIMEText
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.outbox import PENDING, OutboxMessage
from app.models.process import HumanTask

logger = logging.getLogger(__name__)

TEMPLATE_FOLDER = Path(__file__).resolve().parent.parent / "templates" / "mail"
SUBJECT_PREFIX = "Subject:"
RETRY_PAUSES = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30))
LATER_RETRY_PAUSE = timedelta(hours=1)
MAX_ATTEMPTS = 6
STUCK_AFTER = timedelta(minutes=10)
SEND_WINDOW = STUCK_AFTER / 2
SMTP_TIMEOUT_SECONDS = 30

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_FOLDER),
    autoescape=False,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send e-mail; no host means e-mail is logged instead."""

    host: str | None
    port: int = 587
    user: str | None = None
    password: str | None = None
    starttls: bool = True
    mail_from: str = "wenming@localhost"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SmtpSettings:
        """Read the WENMING_SMTP_* and WENMING_MAIL_FROM settings."""
        return cls(
            host=config.get("WENMING_SMTP_HOST") or None,
            port=int(config.get("WENMING_SMTP_PORT") or 587),
            user=config.get("WENMING_SMTP_USER") or None,
            password=config.get("WENMING_SMTP_PASSWORD") or None,
            starttls=bool(config.get("WENMING_SMTP_STARTTLS", True)),
            mail_from=config.get("WENMING_MAIL_FROM") or "wenming@localhost",
        )


@dataclass
class SendReport:
    """What one `send_due` run did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    recovered: int = 0
    released: int = 0
    cancelled: int = 0


def queue_message(
    session: Session,
    *,
    to_address: str,
    subject: str,
    body_text: str,
    dedupe_key: str,
    user_id: int | None = None,
    task_id: int | None = None,
) -> bool:
    """Queue an e-mail unless one with the same key exists; return whether it is new.

    A message about a task (`task_id`) is cancelled instead of sent if the task
    is no longer waiting when its turn comes. The row is written in the caller's
    transaction; nothing is committed here.
    """
    values = _outbox_row(
        to_address=to_address,
        subject=subject,
        body_text=body_text,
        dedupe_key=dedupe_key,
        user_id=user_id,
        task_id=task_id,
    )
    statement = _insert_once(session.get_bind().dialect.name)
    return session.execute(statement, values).first() is not None


def queue_messages(session: Session, letters: list[dict]) -> None:
    """Queue many e-mails with one statement; a key already queued is skipped.

    Each letter holds the keyword arguments of `queue_message`.
    """
    if letters:
        rows = [_outbox_row(**letter) for letter in letters]
        statement = _insert_once(session.get_bind().dialect.name, returning=False)
        session.execute(statement, rows)


def _outbox_row(
    *,
    to_address: str,
    subject: str,
    body_text: str,
    dedupe_key: str,
    user_id: int | None = None,
    task_id: int | None = None,
) -> dict:
    now = utcnow()
    return {
        "user_id": user_id,
        "task_id": task_id,
        "to_address": to_address,
        "subject": subject,
        "body_text": body_text,
        "dedupe_key": dedupe_key,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


@functools.cache
def _insert_once(dialect: str, *, returning: bool = True):
    """Return the statement that inserts a message unless its key is taken."""
    # On the table, not the entity: the ORM's bulk-insert path costs more than the row.
    if dialect == "postgresql":
        statement = postgresql.insert(OutboxMessage.__table__)
    elif dialect == "sqlite":
        statement = sqlite.insert(OutboxMessage.__table__)
    else:
        raise NotImplementedError(f"the outbox does not support {dialect}")
    statement = statement.on_conflict_do_nothing()
    if returning:
        statement = statement.returning(OutboxMessage.__table__.c.id)
    return statement


def render(template_name: str, locale: str, **context: Any) -> tuple[str, str]:
    """Render a mail template into its subject and plain-text body."""
    template = _environment.get_template(f"{template_name}.{locale}.txt")
    text = template.render(**context)

    first_line, _, rest = text.partition("\n")
    if not first_line.startswith(SUBJECT_PREFIX):
        raise ValueError(f"mail template {template.name} must start with 'Subject:'")
    return first_line[len(SUBJECT_PREFIX) :].strip(), rest.strip("\n") + "\n"


def send_due(
    session: Session,
    *,
    smtp: SmtpSettings,
    now: datetime,
    batch_size: int = 100,
    shard: tuple[int, int] | None = None,
) -> SendReport:
    """Send the messages that are due, each claimed by this process alone.

    A message is marked sent right after the server accepts it. If the process dies
    between the server's acceptance and that mark, the message stays "sending" and is
    returned to "pending" after ten minutes, so it may then be sent a second time:
    delivery is at least once within that window, exactly once otherwise. A batch
    stops sending after five minutes and hands its unsent messages back, so a slow
    server does not let another process take a message still waiting in this batch.
    The session is committed after each step; call this with no unfinished changes.
    `shard` (index, count) limits the run to the messages whose id modulo count is
    index, so that several senders share the outbox without racing for claims.
    """
    report = SendReport(recovered=recover_stuck(session, now=now))

    claimed = claim_due(
        session, now=now, batch_size=batch_size, report=report, shard=shard
    )
    if not claimed:
        return report

    if smtp.host is None:
        _log_instead(session, claimed, now, report)
    else:
        _send_over_smtp(session, smtp, claimed, now, report)
    return report


def recover_stuck(session: Session, *, now: datetime) -> int:
    """Return messages left "sending" by a process that died to "pending"."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status == "sending",
            OutboxMessage.sending_started_at < now - STUCK_AFTER,
        )
        .values(status="pending", next_attempt_at=now, sending_started_at=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()

    if result.rowcount:
        logger.warning("returned %s stuck e-mail(s) to the outbox", result.rowcount)
    return result.rowcount


def claim_due(
    session: Session,
    *,
    now: datetime,
    batch_size: int = 100,
    report: SendReport | None = None,
    shard: tuple[int, int] | None = None,
) -> list[OutboxMessage]:
    """Mark due pending messages "sending" for this process and return them.

    Messages about a task that is no longer waiting are marked "cancelled" instead.
    """
    query = (
        select(OutboxMessage.id)
        .where(PENDING, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(batch_size)
    )
    if shard is not None:
        index, count = shard
        query = query.where(OutboxMessage.id % count == index)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    candidates = session.scalars(query).all()

    cancelled = _cancel_for_finished_tasks(session, candidates)
    claimed_ids = _claim(session, set(candidates) - cancelled, now)
    session.commit()

    if cancelled:
        logger.info("cancelled %s e-mail(s) about tasks already done", len(cancelled))
        if report is not None:
            report.cancelled += len(cancelled)

    if not claimed_ids:
        return []
    messages = list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.id.in_(claimed_ids))
            .order_by(OutboxMessage.id)
        )
    )
    # Detached, the claimed messages survive the commit after each one is sent
    # without being reloaded; their outcome is written by id.
    for message in messages:
        session.expunge(message)
    return messages


def retry_pause(attempts: int) -> timedelta:
    """Return how long to wait before the next try after `attempts` failures."""
    if attempts <= len(RETRY_PAUSES):
        return RETRY_PAUSES[attempts - 1]
    return LATER_RETRY_PAUSE


def _claim(session: Session, message_ids: set[int], now: datetime) -> list[int]:
    if not message_ids:
        return []
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids), OutboxMessage.status == "pending")
        .values(status="sending", sending_started_at=now)
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    return list(result.scalars())


def _cancel_for_finished_tasks(session: Session, message_ids: list[int]) -> set[int]:
    # A reminder or new-task mail is moot once its task was completed or withdrawn.
    if not message_ids:
        return set()
    finished = (
        select(HumanTask.id)
        .where(HumanTask.id == OutboxMessage.task_id, HumanTask.state != "ready")
        .exists()
    )
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(message_ids),
            OutboxMessage.status == "pending",
            finished,
        )
        .values(status="cancelled")
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    return set(result.scalars())


def _log_instead(
    session: Session, messages: list[OutboxMessage], now: datetime, report: SendReport
) -> None:
    for message in messages:
        logger.info(
            "e-mail logged instead of sent (no SMTP host): to %s, subject %s\n%s",
            message.to_address,
            message.subject,
            message.body_text,
            extra={"outbox_message_id": message.id},
        )
        _mark_sent(session, message, now, report)


def _send_over_smtp(
    session: Session,
    smtp: SmtpSettings,
    messages: list[OutboxMessage],
    now: datetime,
    report: SendReport,
) -> None:
    try:
        connection = _connect(smtp)
    except (OSError, smtplib.SMTPException) as error:
        logger.warning("SMTP server %s:%s unreachable: %s", smtp.host, smtp.port, error)
        for message in messages:
            _mark_failed(session, message, now, error, report)
        return

    deadline = time.monotonic() + SEND_WINDOW.total_seconds()
    with connection:
        for message in messages:
            if time.monotonic() >= deadline:
                _release(session, message, report)
                continue
            try:
                connection.sendmail(
                    smtp.mail_from,
                    [message.to_address],
                    _email_bytes(message, smtp.mail_from),
                )
            except (OSError, smtplib.SMTPException) as error:
                _mark_failed(session, message, now, error, report)
            else:
                _mark_sent(session, message, now, report)


def _connect(smtp: SmtpSettings) -> smtplib.SMTP:
    connection = smtplib.SMTP(smtp.host, smtp.port, timeout=SMTP_TIMEOUT_SECONDS)
    try:
        if smtp.starttls:
            connection.starttls()
        if smtp.user:
            connection.login(smtp.user, smtp.password or "")
    except BaseException:
        connection.close()
        raise
    return connection


def _email_bytes(message: OutboxMessage, mail_from: str) -> bytes:
    """Return the message as sent: plain UTF-8 text with an encoded subject."""
    # The legacy MIME classes build a message about three times faster than
    # EmailMessage, which matters when a deadline mails thousands at once.
    email = MIMEText(message.body_text, "plain", "utf-8")
    email["From"] = mail_from
    email["To"] = message.to_address
    email["Subject"] = Header(message.subject, "utf-8")
    email["Message-ID"] = make_msgid(domain=mail_from.rpartition("@")[2] or None)
    return email.as_bytes()


def _mark_sent(
    session: Session, message: OutboxMessage, now: datetime, report: SendReport
) -> None:
    _write(
        session,
        message,
        status="sent",
        sent_at=now,
        sending_started_at=None,
        last_error=None,
    )
    report.sent += 1


def _release(session: Session, message: OutboxMessage, report: SendReport) -> None:
    # A slow server must not keep a claim until another process deems it stuck.
    _write(session, message, status="pending", sending_started_at=None)
    report.released += 1


def _mark_failed(
    session: Session,
    message: OutboxMessage,
    now: datetime,
    error: BaseException,
    report: SendReport,
) -> None:
    attempts = message.attempts + 1
    last_error = f"{type(error).__name__}: {error}"[:2000]
    values = {"attempts": attempts, "last_error": last_error}
    if attempts >= MAX_ATTEMPTS:
        _write(session, message, status="failed", sending_started_at=None, **values)
        report.failed += 1
        logger.error(
            "gave up on e-mail %s to %s after %s attempts: %s",
            message.id,
            message.to_address,
            attempts,
            last_error,
        )
    else:
        _write(
            session,
            message,
            status="pending",
            sending_started_at=None,
            next_attempt_at=now + retry_pause(attempts),
            **values,
        )
        report.retrying += 1


def _write(session: Session, message: OutboxMessage, **values: Any) -> None:
    """Record a message's outcome by id and commit it at once."""
    session.execute(
        _write_statement(tuple(sorted(values))), values | {"b_id": message.id}
    )
    session.commit()
    for name, value in values.items():
        setattr(message, name, value)


@functools.cache
def _write_statement(columns: tuple[str, ...]):
    """Return the update of one message's columns, built once per set of columns."""
    # On the table, not the entity: this runs once per message sent.
    table = OutboxMessage.__table__
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({name: bindparam(name) for name in columns})
    )
