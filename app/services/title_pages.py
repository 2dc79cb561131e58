"""What the units list, a unit's title page and a title review page show."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import Session, aliased, selectinload

from app.models import (
    AuditEvent,
    Cycle,
    HumanTask,
    TitleChange,
    TitleReview,
    Unit,
    User,
    utcnow,
)
from app.models.organisation import TITLE_LEVELS, TITLE_STATUSES
from app.models.titles import TITLE_REVIEW_REASONS
from app.services import scope, titles
from processes.errors import InvalidInput, NotFound

PAGE_SIZE = 50
MAX_SEARCH_CHARS = 60
REVIEW_ACTIONS = (
    "title.review_started",
    "title.proposed",
    "title.returned",
    "title.approved",
    "title.notice_opened",
    "title.objection_recorded",
    "title.objections_decided",
    "title.changed",
)


@dataclass(frozen=True)
class UnitFilters:
    """The filters of the units list, as typed in its query string."""

    status: str = ""
    level: str = ""
    unit_type: str = ""
    search: str = ""
    page: int = 1


@dataclass(frozen=True)
class UnitRow:
    """One unit of the list with its latest title change."""

    unit: Unit
    latest: TitleChange | None


@dataclass
class UnitList:
    """A page of the units list and what its filter controls offer."""

    rows: list[UnitRow]
    total: int
    page: int
    pages: int
    unit_types: list[str]
    filters: UnitFilters


@dataclass(frozen=True)
class HistoryEntry:
    """A title change with the name of the person whose decision it was."""

    change: TitleChange
    changed_by: str


@dataclass
class UnitTitlePage:
    """A unit's title, its history and its reviews."""

    unit: Unit
    history: list[HistoryEntry]
    reviews: list[TitleReview]
    open_review: TitleReview | None
    can_start: bool
    reasons: tuple[str, ...] = TITLE_REVIEW_REASONS


@dataclass(frozen=True)
class ReviewStep:
    """An event of a review's history: what, who, when, and its details."""

    action: str
    actor: str
    at: datetime
    detail: dict


@dataclass
class ReviewPage:
    """A title review with its proposal, approval, notice, objections and outcome."""

    review: TitleReview
    unit: Unit
    cycle: Cycle | None
    phase: str
    proposed_by: str
    approved_by: str
    steps: list[ReviewStep]
    waiting: list[HumanTask]
    can_record: bool
    rectify_due: datetime | None
    objection_names: dict[int, str] = field(default_factory=dict)


def read_filters(args) -> UnitFilters:
    """Read the units list filters from a query string, refusing unknown values."""
    status = (args.get("status") or "").strip()
    level = (args.get("level") or "").strip()
    if status and status not in TITLE_STATUSES:
        raise InvalidInput(f"unknown title status {status!r}")
    if level and level not in (*TITLE_LEVELS, "none"):
        raise InvalidInput(f"unknown title level {level!r}")
    raw_page = (args.get("page") or "1").strip()
    page = int(raw_page) if raw_page.isdigit() and int(raw_page) > 0 else 1
    return UnitFilters(
        status=status,
        level=level,
        unit_type=(args.get("type") or "").strip()[:40],
        search=(args.get("q") or "").strip()[:MAX_SEARCH_CHARS],
        page=page,
    )


def _in_scope(user: User):
    path = user.scope_path
    if path is None:
        return false()
    return Unit.path.startswith(path, autoescape=True)


def list_units(session: Session, user: User, filters: UnitFilters) -> UnitList:
    """Return the units the user sees, filtered, with their latest title change."""
    query = select(Unit).where(_in_scope(user))
    if filters.status:
        query = query.where(Unit.title_status == filters.status)
    if filters.level == "none":
        query = query.where(Unit.title_level.is_(None))
    elif filters.level:
        query = query.where(Unit.title_level == filters.level)
    if filters.unit_type:
        query = query.where(Unit.unit_type == filters.unit_type)
    if filters.search:
        pattern = f"%{_escape_like(filters.search)}%"
        query = query.where(
            or_(
                Unit.name.ilike(pattern, escape="\\"),
                Unit.code.ilike(pattern, escape="\\"),
            )
        )

    total = session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(filters.page, pages)
    units = list(
        session.scalars(
            query.order_by(Unit.name, Unit.id)
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    )
    latest = _latest_changes(session, [u.id for u in units])
    return UnitList(
        rows=[UnitRow(unit, latest.get(unit.id)) for unit in units],
        total=total,
        page=page,
        pages=pages,
        unit_types=_unit_types(session, user),
        filters=filters,
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _latest_changes(session: Session, unit_ids: list[int]) -> dict:
    if not unit_ids:
        return {}
    newest = (
        select(func.max(TitleChange.id))
        .where(TitleChange.unit_id.in_(unit_ids))
        .group_by(TitleChange.unit_id)
    )
    query = select(TitleChange).where(TitleChange.id.in_(newest))
    return {change.unit_id: change for change in session.scalars(query)}


def _unit_types(session: Session, user: User) -> list[str]:
    query = select(Unit.unit_type).where(_in_scope(user)).distinct()
    return sorted(session.scalars(query))


def unit_title_page(session: Session, user: User, unit_id: int) -> UnitTitlePage:
    """Return a unit's title page, if the unit lies in the user's scope."""
    unit = session.get(Unit, unit_id)
    if unit is None or not scope.sees_path(user, unit.path):
        raise NotFound(f"unit {unit_id} does not exist or is outside your scope")

    changer = aliased(User)
    query = (
        select(TitleChange, changer.display_name)
        .outerjoin(changer, changer.id == TitleChange.changed_by_id)
        .where(TitleChange.unit_id == unit.id)
        .order_by(TitleChange.changed_at.desc(), TitleChange.id.desc())
    )
    history = [HistoryEntry(c, name or "") for c, name in session.execute(query)]
    reviews = session.scalars(
        select(TitleReview)
        .where(TitleReview.unit_id == unit.id)
        .order_by(TitleReview.created_at.desc(), TitleReview.id.desc())
    ).all()
    open_review = titles.open_review(session, unit.id)
    can_start = (
        (user.has_role("office_admin") or user.has_role("admin"))
        and user.unit_id is None
        and unit.title_status in titles.HELD_STATUSES
        and open_review is None
    )
    return UnitTitlePage(unit, history, list(reviews), open_review, can_start)


def review_page(session: Session, user: User, review_id: int) -> ReviewPage:
    """Return everything a title review page shows, if the user sees its unit."""
    review = titles.get_review(session, user, review_id)
    return _page(session, user, review)


def review_for_task(session: Session, user: User, task: HumanTask) -> ReviewPage:
    """Return the title review a task of the title review diagram works on."""
    review = titles.review_of_instance(session, task.instance_id)
    return _page(session, user, review)


def _page(session: Session, user: User, review: TitleReview) -> ReviewPage:
    query = (
        select(TitleReview)
        .options(selectinload(TitleReview.objections))
        .where(TitleReview.id == review.id)
    )
    review = session.scalars(query).one()
    waiting = []
    if review.instance_id is not None:
        waiting = list(
            session.scalars(
                select(HumanTask)
                .where(HumanTask.instance_id == review.instance_id)
                .where(HumanTask.state == "ready")
                .order_by(HumanTask.id)
            )
        )
    names = _names(
        session,
        [review.proposed_by_id, review.approved_by_id]
        + [o.recorded_by_id for o in review.objections],
    )
    return ReviewPage(
        review=review,
        unit=review.unit,
        cycle=session.get(Cycle, review.cycle_id) if review.cycle_id else None,
        phase=phase(review, waiting),
        proposed_by=names.get(review.proposed_by_id, ""),
        approved_by=names.get(review.approved_by_id, ""),
        steps=_steps(session, review),
        waiting=waiting,
        can_record=titles.can_record_objections(user) and _notice_runs(review),
        rectify_due=titles.rectify_due(review),
        objection_names={
            o.id: names.get(o.recorded_by_id, "") for o in review.objections
        },
    )


def phase(review: TitleReview, waiting: list[HumanTask]) -> str:
    """Return where a review stands, as its page names it."""
    if review.status != "notice":
        return review.status
    if _notice_runs(review):
        return "notice"
    if any(task.form_key == "title_objections" for task in waiting):
        return "deciding"
    return "notice_ended"


def _notice_runs(review: TitleReview) -> bool:
    if review.status != "notice" or review.notice_ends_at is None:
        return False
    return utcnow() < titles.as_aware(review.notice_ends_at)


def _names(session: Session, ids: list[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    query = select(User.id, User.display_name).where(User.id.in_(wanted))
    return dict(session.execute(query).all())


def _steps(session: Session, review: TitleReview) -> list[ReviewStep]:
    query = (
        select(AuditEvent, User.display_name)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(AuditEvent.action.in_(REVIEW_ACTIONS))
        .where(
            or_(
                (AuditEvent.object_type == "title_review")
                & (AuditEvent.object_id == review.id),
                (AuditEvent.instance_id == review.instance_id)
                & AuditEvent.action.in_(("title.changed", "title.notice_opened")),
            )
        )
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    return [
        ReviewStep(event.action, name or "", event.at, event.detail or {})
        for event, name in session.execute(query)
    ]
