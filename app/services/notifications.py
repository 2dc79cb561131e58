"""In-app notifications: who hears of a new task, a reminder or an assignment."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from app.models import Office, ProcessInstance, User, utcnow
from app.models.notification import Notification
from app.services import notification_mail
from app.services.scope import LEVEL_LANES, managing_office_path
from processes.runner import StepResult

logger = logging.getLogger(__name__)

UNIT_LANE_ROLES = {"unit": "liaison", "unit_leader": "unit_leader"}
PAGE_SIZE = 50


@dataclass(frozen=True)
class Audience:
    """Where a lane's people sit: the unit, or the offices above the unit."""

    lane: str
    unit_id: int | None
    office_path: str


def announce_new_tasks(
    session: Session, results: Iterable[StepResult], *, returned: bool = False
) -> int:
    """Tell everyone who may take a newly arrived task; return how many were told.

    A lane the diagram itself notified in the same step (e.g. of a rectification
    order) is not told twice. `returned` marks tasks sent back to a unit.
    """
    rows = []
    results = [r for r in results if any(task.new for task in r.ready_tasks)]
    if not results:
        return 0
    people = _People(session)
    people.prefetch_units(r.instance.unit_id for r in results)
    for result in results:
        instance = result.instance
        told_by_diagram = {
            e.payload.get("lane") for e in result.effects if e.kind == "notify"
        }
        for task in result.ready_tasks:
            if not task.new or task.lane in told_by_diagram:
                continue
            audience = Audience(task.lane, instance.unit_id, instance.scope_path)
            kind = "task_returned" if returned else "task_arrived"
            rows.extend(
                _row(user_id, kind, task.title, task.id, instance.id)
                for user_id in people.of(audience)
            )
    _insert(session, rows, people)
    return len(rows)


def notify_lane(
    session: Session,
    instance: ProcessInstance,
    lane: str,
    kind: str,
    title: str,
    *,
    task_id: int | None = None,
) -> int:
    """Tell the people of a lane about an instance, e.g. a reminder of a task."""
    notices = Notices(session)
    told = notices.lane(instance, lane, kind, title, task_id=task_id)
    notices.write()
    return told


class Notices:
    """Notifications of many instances, gathered and then written at once.

    The people of each unit and office are looked up once for the whole batch,
    and the notifications and their e-mail are inserted with one statement each.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.people = _People(session)
        self.rows: list[dict] = []

    def prefetch_units(self, unit_ids: Iterable[int | None]) -> None:
        """Load the users of these units with one query."""
        self.people.prefetch_units(unit_ids)

    def lane(
        self,
        instance: ProcessInstance,
        lane: str,
        kind: str,
        title: str,
        *,
        task_id: int | None = None,
    ) -> int:
        """Add a notice to the people of a lane; return how many it will tell."""
        audience = Audience(lane, instance.unit_id, instance.scope_path)
        rows = [
            _row(user_id, kind, title, task_id, instance.id)
            for user_id in self.people.of(audience)
        ]
        self.rows.extend(rows)
        return len(rows)

    def write(self) -> None:
        """Insert the gathered notifications and queue their e-mail."""
        rows, self.rows = self.rows, []
        _insert(self.session, rows, self.people)


def notify_users(
    session: Session,
    user_ids: Iterable[int],
    kind: str,
    title: str,
    *,
    task_id: int | None = None,
    instance_id: int | None = None,
) -> None:
    """Tell named users, e.g. the reviewer a task was assigned to."""
    _insert(session, [_row(u, kind, title, task_id, instance_id) for u in user_ids])


def unread_count(session: Session, user: User) -> int:
    """Return how many notifications the user has not read."""
    query = (
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
    )
    return session.scalar(query)


def recent(
    session: Session, user: User, *, unread_only: bool = False, limit: int = PAGE_SIZE
) -> list[Notification]:
    """Return the user's newest notifications."""
    query = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    query = query.order_by(Notification.id.desc()).limit(limit)
    return list(session.scalars(query))


def mark_read(session: Session, user: User, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications read (all of them when no ids are given)."""
    statement = update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)
    )
    if ids is not None:
        statement = statement.where(Notification.id.in_(list(ids)))
    return session.execute(statement.values(read_at=utcnow())).rowcount


def _row(user_id, kind, title, task_id, instance_id) -> dict:
    return {
        "user_id": user_id,
        "kind": kind,
        "title": title[:200],
        "task_id": task_id,
        "instance_id": instance_id,
        "created_at": utcnow(),
    }


def _insert(session: Session, rows: list[dict], people: _People | None = None) -> None:
    """Write the notifications, and e-mail those whose people want it at once."""
    if rows:
        known = people.users if people is not None else None
        notification_mail.mail_immediately(session, rows, known_users=known)
        # A plain table insert: the ORM's bulk-insert path costs more than the row.
        session.execute(insert(Notification.__table__), rows)


class _People:
    """Finds the users of a lane for a unit, with one query per unit batch or office."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._by_unit: dict[int, list[User]] = {}
        self._by_office: dict[tuple[str, str], list[int]] = {}
        # Every user loaded so far, so that mail needs no second look-up.
        self.users: dict[int, User] = {}

    def prefetch_units(self, unit_ids: Iterable[int]) -> None:
        """Load the users of many units at once."""
        missing = {u for u in unit_ids if u is not None} - self._by_unit.keys()
        if not missing:
            return
        for unit_id in missing:
            self._by_unit[unit_id] = []
        query = select(User).where(User.unit_id.in_(missing), User.active.is_(True))
        for user in self.session.scalars(query):
            self._by_unit[user.unit_id].append(user)
            self.users[user.id] = user

    def of(self, audience: Audience) -> list[int]:
        """Return the ids of the active users who work the lane for the unit."""
        lane = audience.lane
        if lane in UNIT_LANE_ROLES:
            self.prefetch_units([audience.unit_id])
            role = UNIT_LANE_ROLES[lane]
            return [u.id for u in self._by_unit[audience.unit_id] if u.has_role(role)]
        if lane in LEVEL_LANES or lane == "office":
            key = (lane, managing_office_path(audience.office_path))
            if key not in self._by_office:
                self._by_office[key] = self._reviewers(*key)
            return self._by_office[key]
        return []

    def _reviewers(self, lane: str, office_path: str) -> list[int]:
        if lane == "office":
            where = Office.path == office_path
        else:
            segments = office_path.strip("/").split("/")
            ancestors = [
                "/" + "/".join(segments[: depth + 1]) + "/"
                for depth in range(len(segments))
            ]
            where = Office.path.in_(ancestors) & (Office.level == lane)
        query = select(User).join(Office).where(where, User.active.is_(True))
        reviewers = [u for u in self.session.scalars(query) if u.has_role("reviewer")]
        self.users.update((u.id, u) for u in reviewers)
        return [u.id for u in reviewers]
