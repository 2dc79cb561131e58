"""The task inbox: filtering, sorting and counting a user's waiting tasks in SQL.

Nothing here loads a workflow: every answer comes from the `human_tasks` table
kept in step by the runner, joined with units, cycles and users.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from app.models import (
    AuditEvent,
    Cycle,
    HumanTask,
    Office,
    ProcessDefinition,
    ProcessInstance,
    ProcessVersion,
    Unit,
    User,
)
from app.services import scope
from app.services.fields import FieldErrors
from processes.errors import NotFound
from processes.lint import KNOWN_LANES

logger = logging.getLogger(__name__)

SORTS = ("urgent", "due", "received", "unit")
DUE_WINDOWS = ("overdue", "week")
DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100
MAX_SEARCH_CHARS = 100
MAX_DIGITS = 9
WEEK = timedelta(days=7)

ClaimedBy = aliased(User, name="claimed_by")


@dataclass(frozen=True)
class InboxQuery:
    """What a user asks of the inbox: filters, sort order and page."""

    cycle_id: int | None = None
    level: str | None = None
    office_id: int | None = None
    unit_type: str | None = None
    due: str | None = None
    q: str | None = None
    sort: str = "urgent"
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    @classmethod
    def from_args(cls, args: Mapping) -> InboxQuery:
        """Read query parameters; raise InvalidInput naming each bad one."""
        errors = FieldErrors()
        values = {
            "cycle_id": _whole(errors, args, "cycle_id", 1, None),
            "level": _option(errors, args, "level", tuple(sorted(KNOWN_LANES))),
            "office_id": _whole(errors, args, "office_id", 1, None),
            "unit_type": _words(errors, args, "unit_type", 40),
            "due": _option(errors, args, "due", DUE_WINDOWS),
            "q": _words(errors, args, "q", MAX_SEARCH_CHARS),
            "sort": _option(errors, args, "sort", SORTS) or "urgent",
            "page": _whole(errors, args, "page", 1, None) or 1,
            "per_page": _whole(errors, args, "per_page", 1, MAX_PER_PAGE)
            or DEFAULT_PER_PAGE,
        }
        errors.raise_if_any("the task list filters are not valid")
        return cls(**values)


@dataclass(frozen=True)
class InboxItem:
    """A waiting task with the unit, cycle and claimant shown beside it."""

    task: HumanTask
    unit: Unit | None
    cycle: Cycle | None
    claimed_by: User | None


@dataclass(frozen=True)
class InboxPage:
    """One page of the inbox and the counts behind its filter choices."""

    items: list[InboxItem]
    total: int
    page: int
    per_page: int
    counts: dict = field(default_factory=dict)

    @property
    def pages(self) -> int:
        """Return how many pages the filtered tasks fill."""
        return max(1, -(-self.total // self.per_page))


def inbox(
    session: Session, user: User, query: InboxQuery, *, now: datetime
) -> InboxPage:
    """Return one page of the ready tasks the user may act on, with counts."""
    actionable = _actionable(user)
    conditions = [actionable, *_filters(session, user, query, now)]

    total = session.scalar(_joined(select(func.count(HumanTask.id))).where(*conditions))
    statement = (
        _joined(select(HumanTask, Unit, Cycle, ClaimedBy))
        .where(*conditions)
        .order_by(*_ordering(query.sort, now))
        .offset((query.page - 1) * query.per_page)
        .limit(query.per_page)
    )
    items = [InboxItem(*row) for row in session.execute(statement)]

    return InboxPage(
        items=items,
        total=total or 0,
        page=query.page,
        per_page=query.per_page,
        counts=_counts(session, actionable, now),
    )


def item_for(session: Session, task: HumanTask) -> InboxItem:
    """Return one task as the inbox shows it."""
    cycle = session.get(Cycle, task.cycle_id) if task.cycle_id else None
    holder = session.get(User, task.claimed_by_id) if task.claimed_by_id else None
    return InboxItem(task=task, unit=task.unit, cycle=cycle, claimed_by=holder)


@dataclass(frozen=True)
class TimelineEntry:
    """One audit event of an instance, with the person who caused it."""

    event: AuditEvent
    actor: User | None


@dataclass(frozen=True)
class InstanceView:
    """A process instance with its waiting tasks and its audit timeline."""

    instance: ProcessInstance
    process_key: str
    process_version: int
    unit: Unit | None
    cycle: Cycle | None
    active_tasks: list[InboxItem]
    timeline: list[TimelineEntry]


def instance_view(session: Session, user: User, instance_id: int) -> InstanceView:
    """Return an instance inside the user's scope with its tasks and timeline."""
    instance = session.get(ProcessInstance, instance_id)
    if instance is None or not scope.sees_path(user, instance.scope_path):
        raise NotFound(
            f"instance {instance_id} does not exist or is outside your scope"
        )

    key, version = session.execute(
        select(ProcessDefinition.process_key, ProcessVersion.version)
        .join(ProcessVersion, ProcessVersion.definition_id == ProcessDefinition.id)
        .where(ProcessVersion.id == instance.version_id)
    ).one()
    active = session.execute(
        _joined(select(HumanTask, Unit, Cycle, ClaimedBy))
        .where(HumanTask.instance_id == instance.id, HumanTask.state == "ready")
        .order_by(HumanTask.id)
    )
    timeline = session.execute(
        select(AuditEvent, User)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(AuditEvent.instance_id == instance.id)
        .order_by(AuditEvent.at, AuditEvent.id)
    )

    cycle = session.get(Cycle, instance.cycle_id) if instance.cycle_id else None
    return InstanceView(
        instance=instance,
        process_key=key,
        process_version=version,
        unit=instance.unit,
        cycle=cycle,
        active_tasks=[InboxItem(*row) for row in active],
        timeline=[TimelineEntry(*row) for row in timeline],
    )


def _actionable(user: User) -> ColumnElement[bool]:
    return and_(
        HumanTask.state == "ready",
        scope.actionable_filter(user),
        or_(HumanTask.claimed_by_id.is_(None), HumanTask.claimed_by_id == user.id),
    )


def _joined(statement: Select) -> Select:
    return (
        statement.select_from(HumanTask)
        .outerjoin(Unit, Unit.id == HumanTask.unit_id)
        .outerjoin(Cycle, Cycle.id == HumanTask.cycle_id)
        .outerjoin(ClaimedBy, ClaimedBy.id == HumanTask.claimed_by_id)
    )


def _filters(
    session: Session, user: User, query: InboxQuery, now: datetime
) -> list[ColumnElement[bool]]:
    conditions = []
    if query.cycle_id is not None:
        conditions.append(HumanTask.cycle_id == query.cycle_id)
    if query.level is not None:
        conditions.append(HumanTask.lane == query.level)
    if query.office_id is not None:
        path = _office_path(session, user, query.office_id)
        conditions.append(HumanTask.office_path.startswith(path, autoescape=True))
    if query.unit_type is not None:
        conditions.append(Unit.unit_type == query.unit_type)
    if query.due is not None:
        conditions.append(_due_window(query.due, now))
    if query.q is not None:
        conditions.append(Unit.name.icontains(query.q, autoescape=True))
    return conditions


def _office_path(session: Session, user: User, office_id: int) -> str:
    office = session.get(Office, office_id)
    if office is None or not scope.sees_path(user, office.path):
        errors = FieldErrors()
        errors.add("office_id", "not an office within your scope")
        errors.raise_if_any("the task list filters are not valid")
    return office.path


def _due_window(window: str, now: datetime) -> ColumnElement[bool]:
    """Overdue: the deadline has passed; week: it falls within the next 7 days."""
    if window == "overdue":
        return HumanTask.due_at < now
    return and_(HumanTask.due_at >= now, HumanTask.due_at < now + WEEK)


def _ordering(sort: str, now: datetime) -> list:
    undated_last = case((HumanTask.due_at.is_(None), 1), else_=0)
    if sort == "received":
        return [HumanTask.created_at.desc(), HumanTask.id.desc()]
    if sort == "unit":
        return [Unit.name, undated_last, HumanTask.due_at, HumanTask.id]
    by_due = [undated_last, HumanTask.due_at, HumanTask.created_at, HumanTask.id]
    if sort == "due":
        return by_due
    overdue_first = case((HumanTask.due_at < now, 0), else_=1)
    return [overdue_first, *by_due]


def _counts(session: Session, actionable: ColumnElement[bool], now: datetime) -> dict:
    by_cycle = session.execute(
        select(HumanTask.cycle_id, func.count())
        .where(actionable)
        .group_by(HumanTask.cycle_id)
    )
    by_level = session.execute(
        select(HumanTask.lane, func.count()).where(actionable).group_by(HumanTask.lane)
    )
    windows = session.execute(
        select(
            func.count(),
            *(func.count(case((_due_window(w, now), 1))) for w in DUE_WINDOWS),
        ).where(actionable)
    ).one()
    return {
        "all": windows[0],
        "cycle": {cycle_id: n for cycle_id, n in by_cycle if cycle_id is not None},
        "level": dict(by_level.all()),
        "due": dict(zip(DUE_WINDOWS, windows[1:], strict=True)),
    }


def _raw(args: Mapping, name: str) -> str | None:
    value = args.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _whole(
    errors: FieldErrors, args: Mapping, name: str, low: int, high: int | None
) -> int | None:
    value = _raw(args, name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > MAX_DIGITS:
        errors.add(name, "enter a whole number")
        return None
    number = int(value)
    if number < low or (high is not None and number > high):
        limits = f"from {low} to {high}" if high else f"at least {low}"
        errors.add(name, f"must be {limits}")
        return None
    return number


def _option(
    errors: FieldErrors, args: Mapping, name: str, options: tuple[str, ...]
) -> str | None:
    value = _raw(args, name)
    if value is not None and value not in options:
        errors.add(name, f"choose one of {', '.join(options)}")
        return None
    return value


def _words(errors: FieldErrors, args: Mapping, name: str, max_chars: int) -> str | None:
    value = _raw(args, name)
    if value is not None and len(value) > max_chars:
        errors.add(name, f"at most {max_chars} characters (now {len(value)})")
        return None
    return value
