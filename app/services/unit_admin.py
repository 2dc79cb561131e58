"""Administering units: listing, creating, editing and moving them in the subtree.

A unit moves to another office only while none of its work runs: a running
creation task or title review routes its tasks by the path it was started with,
and rerouting work half-way (a county review already done by the old office, a
city review owed by another city) is not something the procedures define. The
finished work of a moved unit follows it, so its new office sees its history.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, joinedload

from app.models import (
    HumanTask,
    Office,
    ProcessInstance,
    TitleChange,
    TitleReview,
    Unit,
    User,
    record_event,
)
from app.models.organisation import TITLE_LEVELS, TITLE_STATUSES
from app.services import organisation
from app.services.organisation_admin import (
    Problems,
    admin_scope,
    apply_changes,
    managed_office,
    offices_by_code,
)
from app.services.titles import OPEN_STATUSES
from app.services.unit_values import TYPE_MAX_CHARS, UnitSpec, read_unit
from processes.errors import NotFound

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
NOTE_MAX_CHARS = 500
MAX_SEARCH_CHARS = 60
FINISHED = "completed"


@dataclass
class UnitFilters:
    """What the units list is narrowed to."""

    office_id: int | None = None
    search: str = ""
    unit_type: str = ""
    level: str = ""
    status: str = ""
    page: int = 1


@dataclass
class UnitPage:
    """One page of the units list."""

    units: list[Unit]
    total: int
    page: int
    pages: int
    office: Office | None
    unit_types: list[str]
    filters: UnitFilters


@dataclass
class SaveResult:
    """What saving one unit did: created, changed fields, moved."""

    unit: Unit
    created: bool = False
    changes: dict = field(default_factory=dict)


def read_filters(args: Mapping[str, str]) -> UnitFilters:
    """Read the units list filters from a query string; unknown values are dropped."""
    raw_office = (args.get("office") or "").strip()
    raw_page = (args.get("page") or "1").strip()
    level = (args.get("level") or "").strip()
    status = (args.get("status") or "").strip()
    return UnitFilters(
        office_id=int(raw_office) if raw_office.isdigit() else None,
        search=(args.get("q") or "").strip()[:MAX_SEARCH_CHARS],
        unit_type=(args.get("type") or "").strip()[:TYPE_MAX_CHARS],
        level=level if level in (*TITLE_LEVELS, "none") else "",
        status=status if status in TITLE_STATUSES else "",
        page=int(raw_page) if raw_page.isdigit() and int(raw_page) > 0 else 1,
    )


def list_units(session: Session, user: User, filters: UnitFilters) -> UnitPage:
    """Return one page of the units of the subtree, or of one office's subtree."""
    office, query = _filtered(session, user, filters)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(filters.page, pages)
    units = session.scalars(
        query.options(joinedload(Unit.office))
        .order_by(Unit.path, Unit.id)
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    return UnitPage(
        units=list(units),
        total=total,
        page=page,
        pages=pages,
        office=office,
        unit_types=unit_types(session, user),
        filters=filters,
    )


def unit_types(session: Session, user: User) -> list[str]:
    """Return the unit types found in the user's subtree, for filters and hints."""
    query = select(Unit.unit_type).where(_under(admin_scope(user))).distinct()
    return sorted(session.scalars(query))


def units_for_export(session: Session, user: User, filters: UnitFilters) -> list[Unit]:
    """Return every unit the filters select, in tree order, for a workbook."""
    _, query = _filtered(session, user, filters)
    query = query.options(joinedload(Unit.office)).order_by(Unit.path, Unit.id)
    return list(session.scalars(query))


def _filtered(session: Session, user: User, filters: UnitFilters):
    office = None
    if filters.office_id is not None:
        office = managed_office(session, user, filters.office_id)
    query = select(Unit).where(
        _under(admin_scope(user)), _under(office.path if office else None)
    )
    if filters.unit_type:
        query = query.where(Unit.unit_type == filters.unit_type)
    if filters.level == "none":
        query = query.where(Unit.title_level.is_(None))
    elif filters.level:
        query = query.where(Unit.title_level == filters.level)
    if filters.status:
        query = query.where(Unit.title_status == filters.status)
    if filters.search:
        pattern = f"%{_escape_like(filters.search)}%"
        query = query.where(
            or_(
                Unit.name.ilike(pattern, escape="\\"),
                Unit.code.ilike(pattern, escape="\\"),
            )
        )
    return office, query


def _under(path: str | None):
    return Unit.path.startswith(path or "/", autoescape=True)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def get_unit(session: Session, user: User, unit_id: int) -> Unit:
    """Return a unit of the user's subtree, else raise NotFound."""
    path = admin_scope(user)
    unit = session.get(Unit, unit_id)
    if unit is None or not unit.path.startswith(path):
        raise NotFound(f"unit {unit_id} does not exist or is outside your scope")
    return unit


def save_unit(
    session: Session,
    actor: User,
    raw: Mapping[str, object],
    unit_id: int | None = None,
    *,
    note: str = "",
) -> SaveResult:
    """Create a unit, or change one of the subtree (moving it if its office changes).

    A change of title level or status is kept in the unit's title history with
    the note.
    """
    unit = get_unit(session, actor, unit_id) if unit_id is not None else None
    problems = Problems()
    spec = read_unit(problems, raw, offices_by_code(session, actor))
    _check_code(session, problems, spec.code, unit)
    if unit is not None:
        running = running_work(session, [unit.id]).get(unit.id, 0)
        reviewing = unit.id in under_review(session, [unit.id])
        check_change(problems, unit, spec, running, reviewing)
    if len(note or "") > NOTE_MAX_CHARS:
        problems.report(
            "note",
            "too_long",
            f"at most {NOTE_MAX_CHARS} characters",
            limit=NOTE_MAX_CHARS,
        )
    problems.raise_if_any("the unit cannot be saved")

    if unit is None:
        return SaveResult(create(session, actor, spec), created=True)
    return SaveResult(unit, changes=change(session, actor, unit, spec, note=note))


def _check_code(
    session: Session, problems: Problems, code: str, unit: Unit | None
) -> None:
    if not code:
        return
    other = session.scalar(select(Unit.id).where(Unit.code == code))
    if other is not None and (unit is None or other != unit.id):
        report_code_taken(problems, code)


def report_code_taken(problems: Problems, code: str) -> None:
    """Record that another unit already has the code."""
    problems.report(
        "code", "unit_code_taken", f"{code} is used by another unit", value=code
    )


def check_change(
    problems: Problems, unit: Unit, spec: UnitSpec, running: int, reviewing: bool
) -> None:
    """Refuse a move while work runs, and a title change while a review runs."""
    if spec.office is not None and spec.office.id != unit.office_id and running:
        problems.report(
            "office_code",
            "running_work",
            f"{unit.name} has {running} running procedures (creation tasks or "
            "title reviews); it moves to another office once they have finished",
            count=running,
        )
    title_changes = (spec.title_status, spec.title_level) != (
        unit.title_status,
        unit.title_level,
    )
    if title_changes and reviewing:
        problems.report(
            "title_status",
            "title_under_review",
            f"a title review of {unit.name} is under way; its title changes "
            "through that review",
        )


def running_work(session: Session, unit_ids: list[int]) -> dict[int, int]:
    """Count the unfinished procedure instances of each unit."""
    if not unit_ids:
        return {}
    query = (
        select(ProcessInstance.unit_id, func.count())
        .where(
            ProcessInstance.unit_id.in_(unit_ids),
            ProcessInstance.status != FINISHED,
        )
        .group_by(ProcessInstance.unit_id)
    )
    return dict(session.execute(query).all())


def under_review(session: Session, unit_ids: list[int]) -> set[int]:
    """Return the units among these whose title review is not decided yet."""
    if not unit_ids:
        return set()
    query = select(TitleReview.unit_id).where(
        TitleReview.unit_id.in_(unit_ids), TitleReview.status.in_(OPEN_STATUSES)
    )
    return set(session.scalars(query))


def create(session: Session, actor: User, spec: UnitSpec, **detail: object) -> Unit:
    """Add a checked unit under its office and record it."""
    unit = organisation.create_unit(
        session,
        name=spec.name,
        code=spec.code,
        unit_type=spec.unit_type,
        office=spec.office,
        target_level=spec.target_level,
        title_level=spec.title_level,
        title_status=spec.title_status,
        needs_leader_signoff=spec.needs_leader_signoff,
    )
    unit.title_term_start = spec.title_term_start
    unit.title_term_end = spec.title_term_end
    record_event(
        session,
        "unit.created",
        actor_id=actor.id,
        object_type="unit",
        object_id=unit.id,
        name=unit.name,
        code=unit.code,
        office_id=spec.office.id,
        **detail,
    )
    return unit


def change(
    session: Session,
    actor: User,
    unit: Unit,
    spec: UnitSpec,
    *,
    note: str = "",
    **detail: object,
) -> dict:
    """Apply a checked spec to a unit, move it if needed; return the changes."""
    before = (unit.title_status, unit.title_level)
    changes = apply_changes(unit, spec.values())
    if (unit.title_status, unit.title_level) != before:
        session.add(
            TitleChange(
                unit_id=unit.id,
                from_status=before[0],
                to_status=unit.title_status,
                from_level=before[1],
                to_level=unit.title_level,
                note=note or "",
                changed_by_id=actor.id,
            )
        )
    if changes:
        record_event(
            session,
            "unit.updated",
            actor_id=actor.id,
            object_type="unit",
            object_id=unit.id,
            changes=dict(changes),
            **detail,
        )
    if spec.office is not None and spec.office.id != unit.office_id:
        changes["office_code"] = [unit.office.code, spec.office.code]
        _move(session, actor, unit, spec.office, **detail)
    return changes


def _move(
    session: Session, actor: User, unit: Unit, office: Office, **detail: object
) -> None:
    """Hang the unit under another office; its finished work follows its path."""
    old_office, old_path = unit.office, unit.path
    unit.office = office
    unit.office_id = office.id
    unit.path = f"{office.path}u{unit.id}/"
    instance_ids = select(ProcessInstance.id).where(ProcessInstance.unit_id == unit.id)
    session.execute(
        update(ProcessInstance)
        .where(ProcessInstance.unit_id == unit.id)
        .values(scope_path=unit.path),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(HumanTask)
        .where(HumanTask.instance_id.in_(instance_ids))
        .values(office_path=unit.path),
        execution_options={"synchronize_session": False},
    )
    record_event(
        session,
        "unit.moved",
        actor_id=actor.id,
        object_type="unit",
        object_id=unit.id,
        from_office_id=old_office.id,
        to_office_id=office.id,
        from_path=old_path,
        to_path=unit.path,
        **detail,
    )
    logger.info(
        "unit %s moved from %s to %s",
        unit.code,
        old_office.code,
        office.code,
        extra={"unit_id": unit.id},
    )


def unit_choices(session: Session, user: User, limit: int = 500) -> list[Unit]:
    """Return units of the subtree by name, for choosing one by its code."""
    query = (
        select(Unit)
        .where(_under(admin_scope(user)))
        .order_by(Unit.name, Unit.id)
        .limit(limit)
    )
    return list(session.scalars(query))
