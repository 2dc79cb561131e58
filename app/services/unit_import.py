"""Importing units from workbook rows: all rows are checked, then all are saved.

A row whose code belongs to a unit of the subtree changes that unit; any other
row adds a unit. One problem anywhere refuses the whole import, so a workbook
is never half imported.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Unit, User
from app.services import unit_admin, unit_values
from app.services.organisation_admin import Problems, admin_scope, offices_by_code
from processes.errors import InvalidInput

logger = logging.getLogger(__name__)

MAX_ROWS = 5000
LOOKUP_BATCH = 500


@dataclass(frozen=True)
class RowProblem:
    """What is wrong with one cell of the workbook."""

    row: int
    field: str
    kind: str
    values: dict
    message: str


@dataclass
class ImportReport:
    """What an import did, by unit code."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


class ImportRefused(InvalidInput):
    """The workbook has problems; nothing of it was saved."""

    def __init__(self, problems: list[RowProblem]) -> None:
        first = problems[0]
        super().__init__(
            f"the import changed nothing: {len(problems)} problems, the first in "
            f"row {first.row}, {first.field}: {first.message}",
            details={"rows": [asdict(problem) for problem in problems]},
        )
        self.problems = problems


@dataclass
class _Plan:
    row: int
    spec: unit_values.UnitSpec
    unit: Unit | None


def import_units(
    session: Session, actor: User, rows: list[tuple[int, Mapping[str, object]]]
) -> ImportReport:
    """Check every row, then add or change every unit.

    Raises ImportRefused, with every problem by row and field, when any row has
    one; then nothing is saved.
    """
    scope = admin_scope(actor)
    if len(rows) > MAX_ROWS:
        raise InvalidInput(
            f"a workbook holds at most {MAX_ROWS} units; split it",
            details={"kind": "too_many_rows", "limit": MAX_ROWS},
        )
    offices = offices_by_code(session, actor)
    read = []
    for row, raw in rows:
        found = Problems()
        read.append((row, found, unit_values.read_unit(found, raw, offices)))
    existing = _units_by_code(session, [spec.code for _, _, spec in read])

    problems: list[RowProblem] = []
    plans: list[_Plan] = []
    first_rows: dict[str, int] = {}
    for row, found, spec in read:
        unit = existing.get(spec.code)
        if unit is not None and not unit.path.startswith(scope):
            unit_admin.report_code_taken(found, spec.code)
            unit = None
        if spec.code in first_rows:
            found.report(
                "code",
                "repeated",
                f"{spec.code} is already the code of row {first_rows[spec.code]}",
                value=spec.code,
                row=first_rows[spec.code],
            )
        elif spec.code:
            first_rows[spec.code] = row
        plans.append(_Plan(row, spec, unit))
        problems.extend(_row_problems(row, found))

    problems.extend(_change_problems(session, plans))
    if problems:
        problems.sort(key=lambda problem: problem.row)
        raise ImportRefused(problems)
    return _save(session, actor, plans)


def _units_by_code(session: Session, codes: list[str]) -> dict[str, Unit]:
    wanted = sorted({code for code in codes if code})
    found: dict[str, Unit] = {}
    for start in range(0, len(wanted), LOOKUP_BATCH):
        batch = wanted[start : start + LOOKUP_BATCH]
        query = select(Unit).where(Unit.code.in_(batch))
        found.update({unit.code: unit for unit in session.scalars(query)})
    return found


def _row_problems(row: int, found: Problems) -> list[RowProblem]:
    return [
        RowProblem(
            row=row,
            field=name,
            kind=found.kinds[name]["kind"],
            values={k: v for k, v in found.kinds[name].items() if k != "kind"},
            message=message,
        )
        for name, message in found.errors.items()
    ]


def _change_problems(session: Session, plans: list[_Plan]) -> list[RowProblem]:
    """Refuse moves of units with running work and title changes under review."""
    changing = [plan for plan in plans if plan.unit is not None]
    ids = [plan.unit.id for plan in changing]
    running = unit_admin.running_work(session, ids)
    reviewing = unit_admin.under_review(session, ids)
    problems = []
    for plan in changing:
        found = Problems()
        unit_id = plan.unit.id
        unit_admin.check_change(
            found, plan.unit, plan.spec, running.get(unit_id, 0), unit_id in reviewing
        )
        problems.extend(_row_problems(plan.row, found))
    return problems


def _save(session: Session, actor: User, plans: list[_Plan]) -> ImportReport:
    report = ImportReport()
    for plan in plans:
        if plan.unit is None:
            unit_admin.create(session, actor, plan.spec, via="import")
            report.created.append(plan.spec.code)
        elif unit_admin.change(session, actor, plan.unit, plan.spec, via="import"):
            report.updated.append(plan.spec.code)
        else:
            report.unchanged.append(plan.spec.code)
    logger.info(
        "units imported: %s created, %s changed, %s unchanged",
        len(report.created),
        len(report.updated),
        len(report.unchanged),
    )
    return report
