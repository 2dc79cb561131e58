"""What the cycle pages show and offer: cycles in scope, offices, systems, progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload

from app.models import Cycle, IndicatorSystem, Office, Unit, User, utcnow
from app.services import schedules
from processes.errors import Forbidden, NotFound


@dataclass(frozen=True)
class Progress:
    """How far a cycle's issuance has come."""

    done: int
    total: int
    finished: bool

    @property
    def percent(self) -> int:
        """Return the share issued, 0 to 100; a finished issuance is 100."""
        if self.finished or self.total == 0:
            return 100 if self.finished else 0
        return min(100, self.done * 100 // self.total)

    def as_json(self) -> dict:
        """Return the progress as the page's script reads it."""
        return {
            "done": self.done,
            "total": self.total,
            "finished": self.finished,
            "percent": self.percent,
        }


def progress_of(cycle: Cycle) -> Progress:
    """Return the recorded issuance progress of a cycle."""
    return Progress(cycle.issue_done, cycle.issue_total, cycle.issued_at is not None)


def check_staff(user: User) -> None:
    """Raise Forbidden for unit users: cycles are the offices' work."""
    if user.unit_id is not None or user.scope_path is None:
        raise Forbidden(
            "cycles are managed by office staff; your tasks are in the inbox"
        )


def can_manage(user: User, office: Office) -> bool:
    """Tell whether the user may open cycles and keep schedules for the office."""
    try:
        schedules.check_manages(user, office)
    except Forbidden:
        return False
    return True


def cycles_in_scope(session: Session, user: User) -> list[Cycle]:
    """Return the cycles that reach into the user's scope, newest first."""
    check_staff(user)
    scope = user.scope_path
    query = (
        select(Cycle)
        .join(Office, Cycle.office_id == Office.id)
        .options(joinedload(Cycle.office), joinedload(Cycle.indicator_system))
        .order_by(Cycle.created_at.desc(), Cycle.id.desc())
    )
    if scope != "/":
        ancestors = _ancestor_paths(scope)
        query = query.where(
            or_(
                Office.path.startswith(scope, autoescape=True),
                Office.path.in_(ancestors),
            )
        )
    return list(session.scalars(query))


def _ancestor_paths(path: str) -> list[str]:
    # "/1/4/9/" has the ancestors "/1/" and "/1/4/".
    parts = [part for part in path.split("/") if part]
    return ["/" + "/".join(parts[:n]) + "/" for n in range(1, len(parts))]


def managed_offices(session: Session, user: User) -> list[Office]:
    """Return the offices the user may open cycles for, top of the tree first."""
    query = select(Office).order_by(Office.path)
    if not user.has_role("admin"):
        if not user.has_role("office_admin") or user.office is None:
            return []
        query = query.where(Office.path.startswith(user.office.path, autoescape=True))
    return list(session.scalars(query))


def managed_office(session: Session, user: User, office_id: int | None) -> Office:
    """Return an office the user manages, or raise Forbidden naming it."""
    office = session.get(Office, office_id) if office_id else None
    if office is None:
        raise NotFound("choose an office from the list")
    schedules.check_manages(user, office)
    return office


def usable_systems(session: Session, offices: list[Office]) -> list[IndicatorSystem]:
    """Return the published systems of the offices or an office above them."""
    paths = {path for office in offices for path in _ancestor_paths(office.path)}
    paths |= {office.path for office in offices}
    query = (
        select(IndicatorSystem)
        .join(Office, IndicatorSystem.office_id == Office.id)
        .where(IndicatorSystem.published.is_(True), Office.path.in_(paths))
        .order_by(IndicatorSystem.code, IndicatorSystem.version.desc())
    )
    return list(session.scalars(query))


def unit_types_under(session: Session, offices: list[Office]) -> list[str]:
    """Return the unit types found under the offices, for the unit filter."""
    if not offices:
        return []
    top = min(offices, key=lambda office: len(office.path))
    query = (
        select(Unit.unit_type)
        .where(Unit.path.startswith(top.path, autoescape=True))
        .distinct()
        .order_by(Unit.unit_type)
    )
    return list(session.scalars(query))


def next_opening(schedule, now: datetime | None = None) -> datetime | None:
    """Return when an active schedule opens its next cycle (UTC), if ever."""
    if not schedule.active:
        return None
    trigger = schedules.schedule_trigger(schedule)
    return trigger.get_next_fire_time(None, now or utcnow())
