"""Assessment cycles: opening them and issuing one creation task per unit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.models import (
    Cycle,
    IndicatorSystem,
    Office,
    ProcessInstance,
    Unit,
    record_event,
)
from app.services import notifications, organisation
from app.services.base import transaction
from app.services.effects import apply_effects
from processes import registry, runner
from processes.errors import InvalidInput

logger = logging.getLogger(__name__)

CREATION_PROCESS = "creation_task"


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
) -> Cycle:
    """Create a cycle for an office's subtree after checking its deadlines."""
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


def units_in_scope(session: Session, cycle: Cycle) -> list[Unit]:
    """Return the units of the cycle's office subtree, in a stable order."""
    office = session.get(Office, cycle.office_id)
    query = (
        select(Unit)
        .options(joinedload(Unit.office))
        .where(Unit.path.startswith(office.path, autoescape=True))
        .order_by(Unit.id)
    )
    return list(session.scalars(query))


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

    Each batch is committed on its own, so an interrupted issuance resumes where it
    stopped when run again; units that already have the task are skipped.
    """
    version = registry.current_version(session, CREATION_PROCESS)
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

    # Requests hold plain values: each batch's commit expires the loaded rows.
    cycle_id = cycle.id
    for offset in range(0, len(pending), batch_size):
        batch = pending[offset : offset + batch_size]
        with transaction(session):
            results = runner.start_instances(
                session, version, batch, actor_id=actor_id, on_effects=apply_effects
            )
            notifications.announce_new_tasks(session, results)
        report.issued += len(batch)
        if progress is not None:
            progress(report.issued, len(pending))

    logger.info(
        "cycle %s issued to %s units (%s already had it)",
        cycle_id,
        report.issued,
        report.already_issued,
        extra={"cycle_id": cycle_id},
    )
    return report


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
