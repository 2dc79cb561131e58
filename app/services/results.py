"""What the results pages show: a cycle's results and deductions within a scope."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.models import (
    Cycle,
    CycleResult,
    Indicator,
    Office,
    ProcessInstance,
    Unit,
    UnitDeduction,
    User,
)
from app.services.cycles import CREATION_PROCESS
from app.services.fields import FieldErrors
from processes.errors import NotFound

GRADES = ("model", "keep", "below", "veto")


@dataclass(frozen=True)
class ResultFilters:
    """The filters of the results table and its export; None means all."""

    office_id: int | None = None
    unit_type: str | None = None
    grade: str | None = None

    @classmethod
    def from_args(cls, args) -> tuple[ResultFilters, dict[str, str]]:
        """Read the filters from query arguments; bad values are named and ignored."""
        errors = FieldErrors()
        office_id = None
        raw_office = (args.get("office_id") or "").strip()
        if raw_office:
            if raw_office.isdigit():
                office_id = int(raw_office)
            else:
                errors.add("office_id", "choose an office from the list")
        unit_type = (args.get("unit_type") or "").strip() or None
        grade = (args.get("grade") or "").strip() or None
        if grade is not None and grade not in GRADES:
            errors.add("grade", f"choose one of {', '.join(GRADES)}")
            grade = None
        return cls(office_id, unit_type, grade), errors.errors

    def as_args(self) -> dict[str, str]:
        """Return the filters as query arguments, leaving out the empty ones."""
        pairs = {
            "office_id": self.office_id,
            "unit_type": self.unit_type,
            "grade": self.grade,
        }
        return {k: str(v) for k, v in pairs.items() if v is not None}


@dataclass(frozen=True)
class Choices:
    """What the filter form offers: the offices and unit types of the results."""

    offices: list[Office]
    unit_types: list[str]


def visible_cycle(session: Session, user: User, cycle_id: int) -> Cycle:
    """Return the cycle if it reaches into the user's scope, else raise NotFound."""
    cycle = session.get(Cycle, cycle_id)
    scope_path = user.scope_path
    if cycle is None or scope_path is None:
        raise NotFound(f"cycle {cycle_id} does not exist or is outside your scope")
    office_path = cycle.office.path
    if not (scope_path.startswith(office_path) or office_path.startswith(scope_path)):
        raise NotFound(f"cycle {cycle_id} does not exist or is outside your scope")
    return cycle


def can_close(user: User, cycle: Cycle) -> bool:
    """Tell whether the user may close or recompute the cycle."""
    if user.has_role("admin"):
        return True
    return user.has_role("office_admin") and user.office_id == cycle.office_id


def can_record(user: User) -> bool:
    """Tell whether the user may record deductions against units."""
    if user.unit_id is not None:
        return False
    return any(user.has_role(r) for r in ("admin", "office_admin", "reviewer"))


def cycle_results(
    session: Session, user: User, cycle: Cycle, filters: ResultFilters
) -> list[CycleResult]:
    """Return the cycle's results for units in the user's scope, best first."""
    query = (
        select(CycleResult)
        .join(Unit, Unit.id == CycleResult.unit_id)
        .options(joinedload(CycleResult.unit).joinedload(Unit.office))
        .where(
            CycleResult.cycle_id == cycle.id,
            Unit.path.startswith(user.scope_path, autoescape=True),
        )
        .order_by(CycleResult.final_score.desc(), Unit.name, Unit.id)
    )
    if filters.office_id is not None:
        query = query.where(Unit.office_id == filters.office_id)
    if filters.unit_type is not None:
        query = query.where(Unit.unit_type == filters.unit_type)
    if filters.grade is not None:
        query = query.where(CycleResult.grade == filters.grade)
    return list(session.scalars(query))


def filter_choices(session: Session, user: User, cycle: Cycle) -> Choices:
    """Return the offices and unit types among the cycle's units the user sees."""
    units = issued_units(session, user, cycle)
    offices = {unit.office.id: unit.office for unit in units}
    return Choices(
        offices=sorted(offices.values(), key=lambda o: o.path),
        unit_types=sorted({unit.unit_type for unit in units}),
    )


def issued_units(session: Session, user: User, cycle: Cycle) -> list[Unit]:
    """Return the units issued the cycle's creation task, within the user's scope."""
    prefix = f"{CREATION_PROCESS}:{cycle.id}:"
    query = (
        select(Unit)
        .join(ProcessInstance, ProcessInstance.unit_id == Unit.id)
        .options(joinedload(Unit.office))
        .where(
            ProcessInstance.cycle_id == cycle.id,
            ProcessInstance.business_key.startswith(prefix, autoescape=True),
            Unit.path.startswith(user.scope_path, autoescape=True),
        )
        .order_by(Unit.name, Unit.id)
    )
    return list(session.scalars(query).unique())


def deductions(session: Session, user: User, cycle: Cycle) -> list[tuple]:
    """Return the cycle's deduction records in scope with unit and indicator."""
    query = (
        select(UnitDeduction, Unit, Indicator)
        .join(Unit, Unit.id == UnitDeduction.unit_id)
        .outerjoin(Indicator, Indicator.id == UnitDeduction.indicator_id)
        .where(
            UnitDeduction.cycle_id == cycle.id,
            Unit.path.startswith(user.scope_path, autoescape=True),
        )
        .order_by(UnitDeduction.recorded_at.desc(), UnitDeduction.id.desc())
    )
    return list(session.execute(query).tuples())


def deduction_items(session: Session, cycle: Cycle) -> list[Indicator]:
    """Return the deduction and veto items of the cycle's indicator system."""
    query = (
        select(Indicator)
        .where(
            Indicator.system_id == cycle.indicator_system_id,
            Indicator.kind.in_(("deduction", "veto")),
        )
        .order_by(Indicator.position)
    )
    return list(session.scalars(query))


def unit_in_cycle(session: Session, user: User, cycle: Cycle, unit_id: int) -> Unit:
    """Return an issued unit of the cycle in the user's scope, else raise NotFound."""
    for unit in issued_units(session, user, cycle):
        if unit.id == unit_id:
            return unit
    raise NotFound(f"unit {unit_id} is not a unit of this cycle in your scope")
