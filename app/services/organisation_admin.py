"""Administering the office tree: who manages what, offices and recent changes.

Office administrators manage their own office's subtree; system administrators
manage the whole tree. Every check lives here, so pages and the API share them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from zoneinfo import available_timezones

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from app.models import AuditEvent, Office, Unit, User, record_event
from app.services import organisation
from app.services.fields import FieldErrors
from processes.errors import Forbidden, InvalidInput, NotFound

logger = logging.getLogger(__name__)

NAME_MAX_CHARS = 120
CODE_MAX_CHARS = 40
RECENT_LIMIT = 20
CHILD_LEVEL = {None: "province", "province": "city", "city": "county"}
ADMIN_ACTIONS = (
    "office.created",
    "office.updated",
    "unit.created",
    "unit.updated",
    "unit.moved",
    "user.created",
    "user.updated",
    "user.password_reset",
    "user.deactivated",
    "user.reactivated",
)


class Problems(FieldErrors):
    """Field errors that also keep a kind and its values, so pages can word them."""

    def __init__(self) -> None:
        super().__init__()
        self.kinds: dict[str, dict] = {}

    def report(self, field: str, kind: str, message: str, **values: object) -> None:
        """Record the first problem of a field: its kind, values and English text."""
        if field not in self.errors:
            self.kinds[field] = {"kind": kind, **values}
        self.add(field, message)

    def raise_if_any(self, summary: str = "some fields need correcting") -> None:
        """Raise InvalidInput with every problem, worded and as kinds."""
        if self.errors:
            listing = "; ".join(f"{k}: {v}" for k, v in self.errors.items())
            raise InvalidInput(
                f"{summary}: {listing}",
                details={"errors": dict(self.errors), "kinds": dict(self.kinds)},
            )


@dataclass(frozen=True)
class TreeRow:
    """One office of the tree as the start page lists it."""

    office: Office
    depth: int
    unit_count: int
    user_count: int

    @property
    def child_level(self) -> str | None:
        """Return the level of offices created under this one, if any."""
        return CHILD_LEVEL.get(self.office.level)


@dataclass(frozen=True)
class Change:
    """One audited change to an office, unit or user of the subtree."""

    event: AuditEvent
    actor_name: str
    subject_name: str


def admin_scope(user: User) -> str:
    """Return the path prefix the user administers, or raise Forbidden."""
    if user.is_active and user.has_role("admin"):
        return "/"
    office = user.office
    if user.is_active and user.has_role("office_admin") and office is not None:
        return office.path
    raise Forbidden(
        "organisation administration is for office administrators and system "
        "administrators",
        details={"kind": "not_admin"},
    )


def is_system_admin(user: User) -> bool:
    """Tell whether the user administers the whole tree."""
    return user.is_active and user.has_role("admin")


def managed_office(session: Session, user: User, office_id: int | None) -> Office:
    """Return an office of the user's subtree, else raise NotFound."""
    scope = admin_scope(user)
    office = session.get(Office, office_id) if office_id else None
    if office is None or not office.path.startswith(scope):
        raise NotFound(f"office {office_id} does not exist or is outside your scope")
    return office


def managed_offices(session: Session, user: User) -> list[Office]:
    """Return the offices of the user's subtree, top of the tree first."""
    scope = admin_scope(user)
    query = select(Office).order_by(Office.path)
    if scope != "/":
        query = query.where(Office.path.startswith(scope, autoescape=True))
    return list(session.scalars(query))


def offices_by_code(session: Session, user: User) -> dict[str, Office]:
    """Return the offices of the user's subtree by their code."""
    return {office.code: office for office in managed_offices(session, user)}


def office_tree(session: Session, user: User) -> list[TreeRow]:
    """Return the user's subtree in tree order, with unit and user counts."""
    offices = managed_offices(session, user)
    if not offices:
        return []
    ids = [office.id for office in offices]
    units = dict(
        session.execute(
            select(Unit.office_id, func.count())
            .where(Unit.office_id.in_(ids))
            .group_by(Unit.office_id)
        ).all()
    )
    users = _user_counts(session, ids)
    top = min(_depth(office.path) for office in offices)
    return [
        TreeRow(
            office=office,
            depth=_depth(office.path) - top,
            unit_count=units.get(office.id, 0),
            user_count=users.get(office.id, 0),
        )
        for office in offices
    ]


def _user_counts(session: Session, office_ids: list[int]) -> dict[int, int]:
    """Count each office's staff together with the people of its units."""
    staff = session.execute(
        select(User.office_id, func.count())
        .where(User.office_id.in_(office_ids))
        .group_by(User.office_id)
    ).all()
    unit_people = session.execute(
        select(Unit.office_id, func.count())
        .join(User, User.unit_id == Unit.id)
        .where(Unit.office_id.in_(office_ids))
        .group_by(Unit.office_id)
    ).all()
    counts: dict[int, int] = {}
    for office_id, count in (*staff, *unit_people):
        counts[office_id] = counts.get(office_id, 0) + count
    return counts


def _depth(path: str) -> int:
    return path.strip("/").count("/")


def create_office(
    session: Session,
    actor: User,
    *,
    parent_id: int | None,
    name: str,
    code: str,
    timezone: str,
    level: str | None = None,
) -> Office:
    """Add an office under one of the actor's subtree; its level follows the parent.

    Without a parent the office is a province office, which only a system
    administrator adds. A given `level` must be the one the parent implies.
    """
    parent = office_parent(session, actor, parent_id)
    expected = child_level(parent)
    problems = Problems()
    if expected is None:
        problems.report(
            "parent",
            "no_child_offices",
            f"a {parent.level} office has no offices under it",
            level=parent.level,
        )
    elif level is not None and level != expected:
        problems.report(
            "level",
            "wrong_level",
            f"an office under {parent.name if parent else 'no office'} is a "
            f"{expected} office, not a {level} office",
            level=level,
            expected=expected,
        )
    values = _office_values(session, problems, name, code, timezone, None)
    problems.raise_if_any("the office cannot be created")

    office = organisation.create_office(
        session, name=values["name"], code=values["code"], level=expected, parent=parent
    )
    office.timezone = values["timezone"]
    record_event(
        session,
        "office.created",
        actor_id=actor.id,
        object_type="office",
        object_id=office.id,
        parent_id=parent.id if parent else None,
        level=office.level,
        **values,
    )
    logger.info("office %s created under %s", office.code, parent_id)
    return office


def office_parent(session: Session, user: User, parent_id: int | None) -> Office | None:
    """Return the office a new office goes under; None stands for a province."""
    if parent_id is not None:
        return managed_office(session, user, parent_id)
    if admin_scope(user) != "/":
        raise Forbidden(
            "only a system administrator adds a province office",
            details={"kind": "province_office"},
        )
    return None


def child_level(parent: Office | None) -> str | None:
    """Return the level of an office under the parent; None under a county."""
    return CHILD_LEVEL.get(parent.level if parent else None)


def update_office(
    session: Session,
    actor: User,
    office_id: int,
    *,
    name: str,
    code: str,
    timezone: str,
) -> Office:
    """Change an office's name, code and time zone; level and place stay."""
    office = managed_office(session, actor, office_id)
    problems = Problems()
    values = _office_values(session, problems, name, code, timezone, office.id)
    problems.raise_if_any("the office cannot be saved")

    changed = apply_changes(office, values)
    if changed:
        record_event(
            session,
            "office.updated",
            actor_id=actor.id,
            object_type="office",
            object_id=office.id,
            changes=changed,
        )
    return office


def _office_values(
    session: Session,
    problems: Problems,
    name: str,
    code: str,
    timezone: str,
    office_id: int | None,
) -> dict[str, str]:
    """Check an office's name, code and time zone; return them stripped."""
    name = read_text(problems, "name", name, NAME_MAX_CHARS)
    code = read_text(problems, "code", code, CODE_MAX_CHARS)
    timezone = (timezone or "").strip()
    if code:
        other = session.scalar(select(Office.id).where(Office.code == code))
        if other is not None and other != office_id:
            problems.report(
                "code",
                "office_code_taken",
                f"{code} is used by another office",
                value=code,
            )
    if timezone not in known_timezones():
        problems.report(
            "timezone",
            "timezone",
            f"{timezone!r} is not an IANA time zone such as Asia/Shanghai",
            value=timezone,
        )
    return {"name": name, "code": code, "timezone": timezone}


@cache
def known_timezones() -> frozenset[str]:
    """Return the IANA time zone names this system knows."""
    return frozenset(available_timezones())


def read_text(problems: Problems, field: str, value: object, max_chars: int) -> str:
    """Read a required text of at most `max_chars` characters, stripped."""
    text = _as_text(value)
    if not text:
        problems.report(field, "required", "this field is required")
    elif len(text) > max_chars:
        problems.report(
            field, "too_long", f"at most {max_chars} characters", limit=max_chars
        )
    return text


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        # A spreadsheet stores a typed 2025 or 101 as a number.
        value = int(value)
    return str(value).strip()


def apply_changes(target: object, values: dict[str, object]) -> dict[str, list]:
    """Set the values on the object; return the changed ones as [old, new]."""
    changed = {}
    for name, new in values.items():
        old = getattr(target, name)
        if old != new:
            changed[name] = [_plain(old), _plain(new)]
            setattr(target, name, new)
    return changed


def _plain(value: object) -> object:
    """Write dates as ISO text so the change fits an audit event's JSON."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def recent_changes(
    session: Session, user: User, limit: int = RECENT_LIMIT
) -> list[Change]:
    """Return the latest audited changes to offices, units and users in scope."""
    scope = admin_scope(user)
    subject = aliased(User)
    actor = aliased(User)
    subject_office = aliased(Office)
    subject_unit = aliased(Unit)
    path = func.coalesce(Office.path, Unit.path, subject_office.path, subject_unit.path)
    query = (
        select(
            AuditEvent,
            actor.display_name,
            func.coalesce(Office.name, Unit.name, subject.display_name),
        )
        .outerjoin(Office, _about("office", Office.id))
        .outerjoin(Unit, _about("unit", Unit.id))
        .outerjoin(subject, _about("user", subject.id))
        .outerjoin(subject_office, subject_office.id == subject.office_id)
        .outerjoin(subject_unit, subject_unit.id == subject.unit_id)
        .outerjoin(actor, actor.id == AuditEvent.actor_id)
        .where(AuditEvent.action.in_(ADMIN_ACTIONS))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(limit)
    )
    if scope != "/":
        query = query.where(path.startswith(scope, autoescape=True))
    return [
        Change(event, actor_name or "", subject_name or "")
        for event, actor_name, subject_name in session.execute(query)
    ]


def _about(object_type: str, column):
    return and_(AuditEvent.object_type == object_type, column == AuditEvent.object_id)
