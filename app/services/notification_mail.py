"""E-mail about notifications: sent at once, gathered in a daily digest, or not at all.

Each user chooses (User.email_mode): "immediate" queues one e-mail per notification
in the transaction that creates it; "digest" gathers the day's notifications into
one e-mail at WENMING_DIGEST_HOUR; "off" leaves them in the app. Every message has
a dedupe key, so a timer that fires twice or a digest run twice mails nobody twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import (
    HumanTask,
    Notification,
    ProcessInstance,
    User,
    record_event,
    utcnow,
)
from app.services import mail, names
from app.services.base import transaction
from processes.errors import InvalidInput

logger = logging.getLogger(__name__)

EMAIL_MODES = ("immediate", "digest", "off")
MAIL_LOCALES = ("zh_Hans", "en")
DEFAULT_BASE_URL = "http://127.0.0.1:5000"
DEFAULT_TIMEZONE = "Asia/Shanghai"
TIME_FORMAT = "%Y-%m-%d %H:%M"
# Notifications that hand a person a task; each task is mailed to a person once.
TASK_KINDS = ("task_arrived", "task_returned", "assigned", "rectification_ordered")


@dataclass(frozen=True)
class MailSettings:
    """Where links in e-mail point and in which time zone times are written."""

    base_url: str = DEFAULT_BASE_URL
    timezone: str = DEFAULT_TIMEZONE

    def task_url(self, task_id: int) -> str:
        """Return the address of a task's page."""
        return f"{self.base_url}/tasks/{task_id}"

    def instance_url(self, instance_id: int) -> str:
        """Return the address of an instance's page."""
        return f"{self.base_url}/instances/{instance_id}"

    def inbox_url(self) -> str:
        """Return the address of the inbox."""
        return f"{self.base_url}/inbox/"

    def local(self, value: datetime | None) -> str | None:
        """Write a stored UTC time in the configured time zone."""
        if value is None:
            return None
        return value.astimezone(ZoneInfo(self.timezone)).strftime(TIME_FORMAT)


_settings = MailSettings()


def configure(config: Mapping[str, Any]) -> None:
    """Take the site address and time zone for e-mail from the app's config."""
    global _settings
    _settings = MailSettings(
        base_url=(config.get("WENMING_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
        timezone=config.get("WENMING_TIMEZONE") or DEFAULT_TIMEZONE,
    )


def settings() -> MailSettings:
    """Return the settings e-mail is written with."""
    return _settings


@dataclass
class _Recipient:
    id: int
    display_name: str
    email: str
    locale: str


@dataclass
class _Subjects:
    """The tasks and instances a batch of notifications is about, loaded at once."""

    tasks: dict[int, HumanTask] = field(default_factory=dict)
    instances: dict[int, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, notifications: list[Mapping]) -> _Subjects:
        """Load the tasks, and instance titles with unit names, of the batch.

        The step that raised the notifications has usually loaded these rows
        already, so they mostly come from the session without a query.
        """
        task_ids = {n["task_id"] for n in notifications if n.get("task_id")}
        tasks = _by_id(session, HumanTask, task_ids)
        instance_ids = {n["instance_id"] for n in notifications if n["instance_id"]}
        instance_ids |= {t.instance_id for t in tasks.values()}
        instances = _by_id(session, ProcessInstance, instance_ids)
        return cls(
            tasks=tasks,
            instances={i.id: _instance_title(session, i) for i in instances.values()},
        )


def _by_id(session: Session, model: type, ids: set[int]) -> dict[int, Any]:
    """Return rows by id, from the session where loaded, else with one query."""
    found = {}
    for id_ in ids:
        loaded = session.identity_map.get(session.identity_key(model, id_))
        if loaded is not None:
            found[id_] = loaded
    missing = ids - found.keys()
    if missing:
        query = select(model).where(model.id.in_(missing))
        found.update((row.id, row) for row in session.scalars(query))
    return found


def mail_immediately(
    session: Session,
    notifications: list[dict],
    *,
    known_users: Mapping[int, User] | None = None,
) -> None:
    """Queue an e-mail for each new notification of a user who wants them at once.

    Call it with the notification rows about to be inserted: each row gets its
    `mailed_at` (None when not mailed). The messages are written in the caller's
    transaction; a message whose key is already in the outbox is not queued again.
    """
    for notification in notifications:
        notification["mailed_at"] = None
    recipients = _recipients(
        session, {n["user_id"] for n in notifications}, known_users or {}
    )
    wanted = [n for n in notifications if n["user_id"] in recipients]
    if not wanted:
        return

    subjects = _Subjects.load(session, wanted)
    letters, now = [], utcnow()
    for notification in wanted:
        recipient = recipients[notification["user_id"]]
        letter = _letter(notification, recipient, subjects)
        if letter is None:
            continue
        letters.append(letter)
        notification["mailed_at"] = now
    mail.queue_messages(session, letters)


def _recipients(
    session: Session, user_ids: set[int], known: Mapping[int, User]
) -> dict[int, _Recipient]:
    """Return the users who want e-mail at once and have an address, by id.

    Users the caller has just loaded (`known`) are not looked up again.
    """
    if user_ids <= known.keys():
        return {
            user.id: _Recipient(
                user.id, user.display_name, user.email, mail_locale(user.locale)
            )
            for user in (known[i] for i in user_ids)
            if user.email_mode == "immediate" and user.active and user.email
        }
    query = select(User.id, User.display_name, User.email, User.locale).where(
        User.id.in_(user_ids),
        User.email_mode == "immediate",
        User.active.is_(True),
        User.email.is_not(None),
        User.email != "",
    )
    return {
        row.id: _Recipient(row.id, row.display_name, row.email, mail_locale(row.locale))
        for row in session.execute(query)
    }


def mail_locale(locale: str | None) -> str:
    """Return the mail template language for a user's locale (Chinese by default)."""
    if locale and locale.replace("-", "_").lower().startswith("en"):
        return "en"
    return "zh_Hans"


def _letter(
    notification: Mapping, recipient: _Recipient, subjects: _Subjects
) -> dict | None:
    """Return the queue_message arguments for one notification, or None to skip."""
    kind = notification["kind"]
    task = subjects.tasks.get(notification.get("task_id") or 0)
    if kind.endswith("_reminder") or kind == "escalation":
        if task is None or task.state != "ready":
            return None  # nothing is waiting any more: no reminder to send
        template = "escalation" if kind == "escalation" else "reminder"
        timer = f"{task.bpmn_id}_overdue" if kind == "escalation" else kind
        due = task.due_at.isoformat() if task.due_at else "none"
        key = f"{template}:{task.instance_id}:{timer}:{due}:{recipient.id}"
    elif task is not None and kind in TASK_KINDS:
        template, key = "task_arrived", f"{kind}:{task.id}:{recipient.id}"
    else:
        template, key = "task_arrived", f"notification:{uuid.uuid4().hex}"

    context = _context(notification, recipient, task, subjects)
    subject, body = mail.render(template, recipient.locale, **context)
    return {
        "to_address": recipient.email,
        "subject": subject[:250],
        "body_text": body,
        "dedupe_key": key[:250],
        "user_id": recipient.id,
        "task_id": task.id if task is not None else None,
    }


def _context(
    notification: Mapping,
    recipient: _Recipient,
    task: HumanTask | None,
    subjects: _Subjects,
) -> dict:
    instance_id = task.instance_id if task else notification["instance_id"]
    instance_title, unit_name = subjects.instances.get(instance_id, ("", ""))
    if task is not None:
        url = _settings.task_url(task.id)
    elif instance_id:
        url = _settings.instance_url(instance_id)
    else:
        url = _settings.inbox_url()
    return {
        "display_name": recipient.display_name,
        "task_title": task.title if task else notification["title"],
        "instance_title": instance_title,
        "unit_name": unit_name,
        "due_at": _settings.local(task.due_at) if task else None,
        "url": url,
    }


def _instance_title(session: Session, instance: ProcessInstance) -> tuple[str, str]:
    """Return the instance's cycle name (else its business key) and unit name."""
    cycle = names.cycle_name(session, instance.cycle_id)
    return cycle or instance.business_key, names.unit_name(session, instance.unit_id)


def _mark_mailed(session: Session, ids: list[int], when: datetime) -> None:
    if ids:
        session.execute(
            update(Notification)
            .where(Notification.id.in_(ids))
            .values(mailed_at=when)
            .execution_options(synchronize_session=False)
        )


@dataclass
class DigestReport:
    """What a digest run did."""

    users: int = 0
    sent: int = 0
    items: int = 0
    already_sent: int = 0


def digest_hour_reached(now: datetime, hour: int) -> bool:
    """Tell whether today's digest hour has come in the configured time zone."""
    return now.astimezone(ZoneInfo(_settings.timezone)).hour >= hour


def send_digests(session: Session, *, now: datetime) -> DigestReport:
    """Queue today's digest for every digest user with unmailed notifications.

    Each user is handled in a transaction of their own: the digest is queued under
    the key `digest:<user>:<local date>` and its notifications marked mailed
    together, so a crash loses nothing and a second run the same day sends nothing.
    Notifications about tasks no longer waiting are settled without being listed.
    """
    day = now.astimezone(ZoneInfo(_settings.timezone)).date().isoformat()
    report = DigestReport()
    for user_id in _digest_user_ids(session, now):
        report.users += 1
        with transaction(session):
            _digest_one(session, user_id, now, day, report)

    if report.sent:
        logger.info(
            "daily digest queued for %s user(s) with %s item(s)",
            report.sent,
            report.items,
        )
    return report


def _digest_user_ids(session: Session, now: datetime) -> list[int]:
    query = (
        select(Notification.user_id)
        .join(User, User.id == Notification.user_id)
        .where(
            Notification.mailed_at.is_(None),
            Notification.created_at < now,
            User.email_mode == "digest",
            User.active.is_(True),
            User.email.is_not(None),
            User.email != "",
        )
        .distinct()
        .order_by(Notification.user_id)
    )
    return list(session.scalars(query))


def _digest_one(
    session: Session, user_id: int, now: datetime, day: str, report: DigestReport
) -> None:
    user = session.get(User, user_id)
    query = (
        select(Notification)
        .where(
            Notification.user_id == user_id,
            Notification.mailed_at.is_(None),
            Notification.created_at < now,
        )
        .order_by(Notification.id)
    )
    pending = list(session.scalars(query))
    rows = [_as_row(n) for n in pending]
    subjects = _Subjects.load(session, rows)
    items = [_digest_item(row, subjects) for row in rows]
    items = [item for item in items if item is not None]

    if items:
        locale = mail_locale(user.locale)
        subject, body = mail.render(
            "digest",
            locale,
            display_name=user.display_name,
            date=day,
            items=items,
            url=_settings.inbox_url(),
        )
        new = mail.queue_message(
            session,
            to_address=user.email,
            subject=subject[:250],
            body_text=body,
            dedupe_key=f"digest:{user_id}:{day}",
            user_id=user_id,
        )
        if not new:
            report.already_sent += 1
            return
        report.sent += 1
        report.items += len(items)
    _mark_mailed(session, [n.id for n in pending], now)


def _as_row(notification: Notification) -> dict:
    return {
        "id": notification.id,
        "kind": notification.kind,
        "title": notification.title,
        "task_id": notification.task_id,
        "instance_id": notification.instance_id,
    }


def _digest_item(row: Mapping, subjects: _Subjects) -> dict | None:
    """Return a digest line for a notification, or None if its task is done."""
    task = subjects.tasks.get(row["task_id"] or 0)
    if row["task_id"] and (task is None or task.state != "ready"):
        return None
    if task is not None:
        url, due_at = _settings.task_url(task.id), _settings.local(task.due_at)
    elif row["instance_id"]:
        url, due_at = _settings.instance_url(row["instance_id"]), None
    else:
        url, due_at = _settings.inbox_url(), None
    return {"title": row["title"], "due_at": due_at, "url": url}


def set_email_mode(session: Session, user: User, mode: str) -> bool:
    """Save how the user wants e-mail about notifications; return whether it changed."""
    if mode not in EMAIL_MODES:
        raise InvalidInput(
            f"unknown e-mail preference {mode!r}; choose one of "
            f"{', '.join(EMAIL_MODES)}"
        )
    if user.email_mode == mode:
        return False

    with transaction(session):
        previous, user.email_mode = user.email_mode, mode
        record_event(
            session,
            "user.email_mode_changed",
            actor_id=user.id,
            object_type="user",
            object_id=user.id,
            previous=previous,
            mode=mode,
        )
    logger.info("user %s now gets e-mail: %s", user.id, mode)
    return True
