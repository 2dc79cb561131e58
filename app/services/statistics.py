"""Statistics (统计分析) of an office's subtree: scope, progress of a cycle, drill-down.

Every figure is a list of buckets; a bucket carries the ids of the units behind its
number, so a drill-down lists exactly the units that were counted.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from app.models import (
    Archive,
    Cycle,
    HumanTask,
    Office,
    ProcessInstance,
    RectificationOrder,
    Submission,
    Unit,
    User,
)
from app.services.cycles import CREATION_PROCESS
from processes.errors import Forbidden, NotFound

logger = logging.getLogger(__name__)

STAFF_ROLES = ("admin", "office_admin", "reviewer")
REVIEW_LANES = ("county", "city", "province", "office")
RECTIFICATION_FORM = "rectification"


@dataclass(frozen=True)
class StatScope:
    """The part of the office tree the figures cover."""

    path: str
    office: Office | None


@dataclass(frozen=True)
class Bucket:
    """One number of a figure and the units behind it."""

    ref: str
    label: str
    unit_ids: tuple[int, ...] = ()

    @property
    def count(self) -> int:
        """Return how many units the number counts."""
        return len(self.unit_ids)


@dataclass(frozen=True)
class OnTime:
    """Submissions by the cycle's submission deadline against all issued units."""

    issued: Bucket
    on_time: Bucket
    late: Bucket
    not_submitted: Bucket
    due_at: datetime

    @property
    def rate(self) -> float | None:
        """Return the share of issued units that submitted on time, in percent."""
        if not self.issued.count:
            return None
        return round(100 * self.on_time.count / self.issued.count, 1)


@dataclass(frozen=True)
class OverdueTask:
    """A unit's waiting task that is past its due time."""

    unit_id: int
    unit_name: str
    office_name: str
    instance_id: int
    task_title: str
    lane: str
    due_at: datetime
    days_overdue: int


@dataclass
class Progress:
    """The progress figures of one cycle in a scope."""

    funnel: list[Bucket] = field(default_factory=list)
    on_time: OnTime | None = None
    overdue: list[OverdueTask] = field(default_factory=list)
    overdue_units: Bucket | None = None
    rounds: list[Bucket] = field(default_factory=list)


def resolve_scope(session: Session, user: User, office_id: int | None) -> StatScope:
    """Return the user's office subtree, or a sub-office of it when one is chosen."""
    if user.unit_id is not None or not any(user.has_role(r) for r in STAFF_ROLES):
        raise Forbidden("statistics are for office staff and administrators")
    own_path = user.scope_path
    if own_path is None:
        raise Forbidden("your account belongs to no office; ask an administrator")
    if office_id is None:
        return StatScope(own_path, user.office)

    office = session.get(Office, office_id)
    if office is None or not office.path.startswith(own_path):
        raise NotFound(f"office {office_id} does not exist or is outside your scope")
    return StatScope(office.path, office)


def scope_offices(session: Session, user: User) -> list[Office]:
    """Return the offices of the user's subtree the page lets them narrow to."""
    query = select(Office).order_by(Office.path)
    own_path = user.scope_path or "/"
    query = query.where(Office.path.startswith(own_path, autoescape=True))
    return list(session.scalars(query))


def visible_cycles(session: Session, scope: StatScope) -> list[Cycle]:
    """Return the cycles that reach into the scope, newest first."""
    path = scope.path
    ancestors = [path[: i + 1] for i, ch in enumerate(path) if ch == "/"]
    query = (
        select(Cycle)
        .join(Office, Office.id == Cycle.office_id)
        .where(
            or_(
                Office.path.startswith(path, autoescape=True),
                Office.path.in_(ancestors),
            )
        )
        .order_by(Cycle.opens_at.desc(), Cycle.id.desc())
    )
    return list(session.scalars(query))


def choose_cycle(
    session: Session, scope: StatScope, cycle_id: int | None
) -> Cycle | None:
    """Return the chosen cycle if it reaches into the scope, else the newest one."""
    cycles = visible_cycles(session, scope)
    if cycle_id is None:
        return cycles[0] if cycles else None
    for cycle in cycles:
        if cycle.id == cycle_id:
            return cycle
    raise NotFound(f"cycle {cycle_id} does not exist or is outside your scope")


def issued_instances(scope: StatScope, cycle: Cycle) -> Select:
    """Return the query of (instance id, unit id) of the cycle's tasks in scope."""
    prefix = f"{CREATION_PROCESS}:{cycle.id}:"
    return (
        select(ProcessInstance.id, ProcessInstance.unit_id)
        .join(Unit, Unit.id == ProcessInstance.unit_id)
        .where(
            ProcessInstance.cycle_id == cycle.id,
            ProcessInstance.business_key.startswith(prefix, autoescape=True),
            Unit.path.startswith(scope.path, autoescape=True),
        )
    )


def issued_map(session: Session, scope: StatScope, cycle: Cycle) -> dict[int, int]:
    """Return unit id by instance id for the cycle's creation tasks in scope."""
    rows = session.execute(issued_instances(scope, cycle)).tuples()
    return {instance_id: unit_id for instance_id, unit_id in rows}


def progress(
    session: Session, scope: StatScope, cycle: Cycle, now: datetime
) -> Progress:
    """Return the funnel, on-time rate, overdue list and rectification rounds."""
    issued = issued_map(session, scope, cycle)
    ids = ids_query(scope, cycle)
    first_submitted = first_submissions(session, ids)
    ready = _ready_tasks(session, ids)

    result = Progress()
    result.funnel = _funnel(session, issued, first_submitted, ready, ids)
    result.on_time = _on_time(issued, first_submitted, cycle.submission_due)
    result.overdue = _overdue(session, ids, now)
    result.overdue_units = bucket(
        "overdue.units",
        "Units with an overdue task",
        [r.unit_id for r in result.overdue],
    )
    result.rounds = _rounds(session, issued, ids)
    return result


def bucket(ref: str, label: str, unit_ids) -> Bucket:
    """Return a bucket of the distinct units given, in id order."""
    return Bucket(ref, label, tuple(sorted(set(unit_ids))))


def aware(value: datetime | None) -> datetime | None:
    """Return the stored time as aware UTC (SQLite hands back naive values)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def ids_query(scope: StatScope, cycle: Cycle) -> Select:
    """Return the query of the ids of the cycle's creation tasks in scope."""
    return issued_instances(scope, cycle).with_only_columns(ProcessInstance.id)


def first_submissions(session: Session, ids: Select) -> dict[int, datetime]:
    """Return the first time each instance's submission was submitted."""
    query = (
        select(Submission.instance_id, func.min(Submission.submitted_at))
        .where(Submission.instance_id.in_(ids), Submission.submitted_at.is_not(None))
        .group_by(Submission.instance_id)
    )
    return {row[0]: aware(row[1]) for row in session.execute(query)}


def _ready_tasks(session: Session, ids: Select) -> list[tuple]:
    query = select(HumanTask.instance_id, HumanTask.lane, HumanTask.form_key).where(
        HumanTask.instance_id.in_(ids), HumanTask.state == "ready"
    )
    return list(session.execute(query).tuples())


def _funnel(session, issued, first_submitted, ready, ids) -> list[Bucket]:
    archived = session.scalars(
        select(Archive.instance_id).where(Archive.instance_id.in_(ids))
    ).all()
    stages = [
        bucket("funnel.issued", "Issued", issued.values()),
        bucket("funnel.submitted", "Submitted", (issued[i] for i in first_submitted)),
    ]
    for lane in REVIEW_LANES:
        units = (issued[i] for i, task_lane, _form in ready if task_lane == lane)
        stages.append(bucket(f"funnel.review_{lane}", f"In review: {lane}", units))
    rectifying = (issued[i] for i, _lane, form in ready if form == RECTIFICATION_FORM)
    stages.append(bucket("funnel.rectifying", "Rectifying", rectifying))
    stages.append(bucket("funnel.archived", "Archived", (issued[i] for i in archived)))
    return stages


def _on_time(issued, first_submitted, due_at: datetime) -> OnTime:
    due = aware(due_at)
    on_time = [issued[i] for i, at in first_submitted.items() if at <= due]
    late = [issued[i] for i, at in first_submitted.items() if at > due]
    missing = [u for i, u in issued.items() if i not in first_submitted]
    return OnTime(
        issued=bucket("ontime.issued", "Issued", issued.values()),
        on_time=bucket("ontime.on_time", "Submitted on time", on_time),
        late=bucket("ontime.late", "Submitted late", late),
        not_submitted=bucket("ontime.not_submitted", "Not submitted", missing),
        due_at=due,
    )


def days_overdue(due_at: datetime, now: datetime) -> int:
    """Return the started days past due: one minute late is one day overdue."""
    return math.ceil((now - aware(due_at)) / timedelta(days=1))


def _overdue(session: Session, ids: Select, now: datetime) -> list[OverdueTask]:
    query = (
        select(HumanTask, Unit.name, Office.name)
        .join(Unit, Unit.id == HumanTask.unit_id)
        .join(Office, Office.id == Unit.office_id)
        .where(
            HumanTask.instance_id.in_(ids),
            HumanTask.state == "ready",
            HumanTask.due_at.is_not(None),
            HumanTask.due_at < now,
        )
    )
    rows = [
        OverdueTask(
            unit_id=task.unit_id,
            unit_name=unit_name,
            office_name=office_name,
            instance_id=task.instance_id,
            task_title=task.title,
            lane=task.lane,
            due_at=aware(task.due_at),
            days_overdue=days_overdue(task.due_at, now),
        )
        for task, unit_name, office_name in session.execute(query).tuples()
    ]
    return sorted(rows, key=lambda r: (-r.days_overdue, r.unit_name, r.instance_id))


def _rounds(session: Session, issued: dict[int, int], ids: Select) -> list[Bucket]:
    query = (
        select(RectificationOrder.instance_id, func.count(RectificationOrder.id))
        .where(RectificationOrder.instance_id.in_(ids))
        .group_by(RectificationOrder.instance_id)
    )
    counts = {i: n for i, n in session.execute(query).tuples()}
    by_rounds: dict[int, list[int]] = {}
    for instance_id, unit_id in issued.items():
        by_rounds.setdefault(counts.get(instance_id, 0), []).append(unit_id)
    top = max(by_rounds, default=0)
    return [bucket(f"rounds.{n}", f"{n}", by_rounds.get(n, ())) for n in range(top + 1)]
