"""Assessment cycles: opening them and issuing one creation task per unit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, joinedload

from app.models import (
    Cycle,
    IndicatorSystem,
    Office,
    ProcessInstance,
    ProcessVersion,
    Unit,
    record_event,
    utcnow,
)
from app.models.organisation import TITLE_LEVELS
from app.services import notifications, organisation
from app.services.base import transaction
from app.services.effects import apply_effects
from processes import registry, runner
from processes.errors import InvalidInput, WenmingError
from processes.functions import parse_duration

logger = logging.getLogger(__name__)

CREATION_PROCESS = "creation_task"
NO_TITLE = "none"
TITLE_LEVEL_FILTERS = (*TITLE_LEVELS, NO_TITLE)


@dataclass
class IssueReport:
    """How an issuance went: units in scope, newly issued, already had one, refused."""

    in_scope: int = 0
    issued: int = 0
    already_issued: int = 0
    refused: dict[str, str] | None = None


def open_cycle(
    session: Session,
    *,
    office: Office,
    name: str,
    indicator_system: IndicatorSystem,
    submission_due: datetime,
    county_review_due: datetime,
    city_review_due: datetime,
    province_review_due: datetime,
    reminder_lead: str = "P2D",
    actor_id: int | None = None,
    unit_types: list[str] | tuple[str, ...] = (),
    title_levels: list[str] | tuple[str, ...] = (),
    auto_close: bool = True,
    schedule_id: int | None = None,
    period: str | None = None,
) -> Cycle:
    """Create a cycle for an office's subtree after checking its deadlines.

    Empty `unit_types` or `title_levels` mean every unit; the title level "none"
    stands for units holding no title yet. Issuance is a separate step.
    """
    if not indicator_system.published:
        raise InvalidInput(
            f"version {indicator_system.version} of indicator system "
            f"{indicator_system.code} is a draft; a cycle uses a published version"
        )
    check_unit_filters(unit_types, title_levels)
    check_reminder_lead(reminder_lead)
    dues = [submission_due, county_review_due, city_review_due, province_review_due]
    if any(due.tzinfo is None for due in dues):
        raise InvalidInput("deadlines need a time zone")
    if dues != sorted(dues):
        raise InvalidInput(
            "deadlines must follow the order submission ≤ county review ≤ "
            "city review ≤ province review"
        )
    if session.scalar(
        select(Cycle.id).where(Cycle.office_id == office.id, Cycle.name == name)
    ):
        raise InvalidInput(f"office {office.name} already has a cycle named {name!r}")
    cycle = Cycle(
        name=name,
        office_id=office.id,
        indicator_system_id=indicator_system.id,
        submission_due=submission_due,
        county_review_due=county_review_due,
        city_review_due=city_review_due,
        province_review_due=province_review_due,
        reminder_lead=reminder_lead,
        created_by_id=actor_id,
        unit_types=sorted(set(unit_types)),
        title_levels=sorted(set(title_levels)),
        auto_close=auto_close,
        closes_at=province_review_due if auto_close else None,
        schedule_id=schedule_id,
        period=period,
    )
    session.add(cycle)
    session.flush()
    record_event(
        session,
        "cycle.opened",
        actor_id=actor_id,
        object_type="cycle",
        object_id=cycle.id,
        name=name,
    )
    return cycle


def check_reminder_lead(reminder_lead: str) -> None:
    """Raise InvalidInput unless the reminder lead is a duration such as P2D."""
    try:
        parse_duration(reminder_lead, utcnow())
    except Exception:
        raise InvalidInput(
            f"reminder lead {reminder_lead!r} is not a duration such as P2D "
            "(two days) or PT12H (twelve hours)"
        ) from None


def check_unit_filters(unit_types, title_levels) -> None:
    """Raise InvalidInput unless the unit filters are lists of known words."""
    if any(not isinstance(kind, str) or not kind.strip() for kind in unit_types):
        raise InvalidInput("unit types must be non-empty words such as school")
    unknown = sorted(set(title_levels) - set(TITLE_LEVEL_FILTERS))
    if unknown:
        raise InvalidInput(
            f"unknown title level {', '.join(map(str, unknown))}; choose from "
            f"{', '.join(TITLE_LEVEL_FILTERS)}"
        )


def units_in_scope(session: Session, cycle: Cycle) -> list[Unit]:
    """Return the units of the cycle's subtree that its filters admit, in order."""
    office = session.get(Office, cycle.office_id)
    query = (
        select(Unit)
        .options(joinedload(Unit.office))
        .where(Unit.path.startswith(office.path, autoescape=True))
        .order_by(Unit.id)
    )
    if cycle.unit_types:
        query = query.where(Unit.unit_type.in_(cycle.unit_types))
    if cycle.title_levels:
        query = query.where(_title_level_condition(cycle.title_levels))
    return list(session.scalars(query))


def _title_level_condition(title_levels: list[str]):
    held = [level for level in title_levels if level != NO_TITLE]
    condition = Unit.title_level.in_(held)
    if NO_TITLE in title_levels:
        condition = or_(condition, Unit.title_level.is_(None))
    return condition


def business_key(cycle: Cycle, unit: Unit) -> str:
    """Return the key that makes a creation task unique per cycle and unit."""
    return f"{CREATION_PROCESS}:{cycle.id}:{unit.id}"


def start_data(cycle: Cycle, unit: Unit) -> dict:
    """Return the small start data a creation task needs."""
    return {
        "unit_id": unit.id,
        "cycle_id": cycle.id,
        "review_levels": organisation.review_levels(unit),
        "needs_leader_signoff": bool(unit.needs_leader_signoff),
        "submission_due": cycle.submission_due.isoformat(),
        "county_review_due": cycle.county_review_due.isoformat(),
        "city_review_due": cycle.city_review_due.isoformat(),
        "province_review_due": cycle.province_review_due.isoformat(),
        "reminder_lead": cycle.reminder_lead,
        "rectification_round": 0,
    }


def issue_cycle(
    session: Session,
    cycle: Cycle,
    *,
    batch_size: int = 500,
    actor_id: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IssueReport:
    """Issue the cycle's creation task to every unit in scope, once per unit.

    Each batch is committed on its own together with the cycle's progress, so an
    interrupted issuance resumes where it stopped when run again; units that already
    have the task are skipped, even when two issuers run at the same time.
    """
    version = registry.current_version(session, CREATION_PROCESS)
    cycle_id = cycle.id
    pending, report = _pending_requests(session, cycle)

    # Requests hold plain values: each batch's commit expires the loaded rows.
    for offset in range(0, len(pending), batch_size):
        batch = pending[offset : offset + batch_size]
        report.issued += _issue_batch(session, version, cycle_id, batch, actor_id)
        if progress is not None:
            progress(min(offset + batch_size, len(pending)), len(pending))

    _finish(session, cycle_id, report)
    return report


def issue_step(
    session: Session,
    cycle: Cycle,
    *,
    batch_size: int = 200,
    actor_id: int | None = None,
) -> IssueReport:
    """Issue one batch of the cycle's pending units; finish it when none remain.

    A page calls this step by step to show the progress as it is made; what it
    leaves unissued (the page closed) the scheduler's issuance job finishes.
    """
    if cycle.issued_at is not None:
        return IssueReport(in_scope=cycle.issue_total, refused={})
    version = registry.current_version(session, CREATION_PROCESS)
    cycle_id = cycle.id
    pending, report = _pending_requests(session, cycle)

    batch = pending[:batch_size]
    if batch:
        report.issued = _issue_batch(session, version, cycle_id, batch, actor_id)
    if len(pending) <= batch_size:
        _finish(session, cycle_id, report)
    return report


def _pending_requests(
    session: Session, cycle: Cycle
) -> tuple[list[runner.StartRequest], IssueReport]:
    """Return the start requests of units still without the task, and record totals."""
    cycle_id = cycle.id
    units = units_in_scope(session, cycle)
    issued_keys = _issued_keys(session, cycle)
    report = IssueReport(in_scope=len(units), refused={})
    pending = []
    for unit in units:
        if business_key(cycle, unit) in issued_keys:
            report.already_issued += 1
            continue
        try:
            pending.append(_start_request(cycle, unit))
        except InvalidInput as error:
            report.refused[unit.name] = error.message

    with transaction(session):
        total = len(pending) + report.already_issued
        session.execute(
            update(Cycle).where(Cycle.id == cycle_id).values(issue_total=total)
        )
        _record_progress(session, cycle_id)
    return pending, report


def _issue_batch(
    session: Session,
    version: ProcessVersion,
    cycle_id: int,
    batch: list[runner.StartRequest],
    actor_id: int | None,
) -> int:
    """Start the batch's instances not started meanwhile; return how many started."""
    with transaction(session):
        _lock_cycle(session, cycle_id)
        batch = _still_pending(session, batch)
        results = runner.start_instances(
            session, version, batch, actor_id=actor_id, on_effects=apply_effects
        )
        notifications.announce_new_tasks(session, results)
        _record_progress(session, cycle_id)
    return len(batch)


def _lock_cycle(session: Session, cycle_id: int) -> None:
    # Writing first takes the row lock (the write lock on SQLite), so two issuers of
    # one cycle take turns batch by batch and each sees the other's instances.
    session.execute(
        update(Cycle).where(Cycle.id == cycle_id).values(issue_total=Cycle.issue_total)
    )


def _still_pending(
    session: Session, batch: list[runner.StartRequest]
) -> list[runner.StartRequest]:
    keys = [request.business_key for request in batch]
    taken = set(
        session.scalars(
            select(ProcessInstance.business_key).where(
                ProcessInstance.business_key.in_(keys)
            )
        )
    )
    return [request for request in batch if request.business_key not in taken]


def _record_progress(session: Session, cycle_id: int) -> None:
    issued = (
        select(func.count())
        .select_from(ProcessInstance)
        .where(ProcessInstance.cycle_id == cycle_id)
        .scalar_subquery()
    )
    session.execute(update(Cycle).where(Cycle.id == cycle_id).values(issue_done=issued))


def _finish(session: Session, cycle_id: int, report: IssueReport) -> None:
    with transaction(session):
        session.execute(
            update(Cycle).where(Cycle.id == cycle_id).values(issued_at=utcnow())
        )
    for unit_name, reason in report.refused.items():
        logger.warning(
            "cycle %s not issued to %s: %s",
            cycle_id,
            unit_name,
            reason,
            extra={"cycle_id": cycle_id},
        )
    logger.info(
        "cycle %s issued to %s units (%s already had it)",
        cycle_id,
        report.issued,
        report.already_issued,
        extra={"cycle_id": cycle_id},
    )


def issue_pending(session: Session, *, batch_size: int = 500) -> list[int]:
    """Issue every open cycle whose issuance has not finished; return their ids."""
    cycle_ids = list(
        session.scalars(
            select(Cycle.id)
            .where(Cycle.issued_at.is_(None), Cycle.status == "open")
            .order_by(Cycle.id)
        )
    )
    session.rollback()
    for cycle_id in cycle_ids:
        try:
            issue_cycle(session, session.get(Cycle, cycle_id), batch_size=batch_size)
        except WenmingError:
            logger.exception(
                "issuing cycle %s failed; it is retried on the next run",
                cycle_id,
                extra={"cycle_id": cycle_id},
            )
    return cycle_ids


def _issued_keys(session: Session, cycle: Cycle) -> set[str]:
    query = select(ProcessInstance.business_key).where(
        ProcessInstance.cycle_id == cycle.id
    )
    return set(session.scalars(query))


def _start_request(cycle: Cycle, unit: Unit) -> runner.StartRequest:
    return runner.StartRequest(
        business_key=business_key(cycle, unit),
        data=start_data(cycle, unit),
        scope_path=unit.path,
        cycle_id=cycle.id,
        unit_id=unit.id,
    )
