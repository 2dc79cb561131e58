"""The statistics dashboard of one cycle in a scope, and the drill-down behind it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Cycle, HumanTask, Office, ProcessInstance, Unit
from app.services import statistics_results as results
from app.services.statistics import (
    Bucket,
    Progress,
    StatScope,
    ids_query,
    issued_map,
    progress,
)
from processes.errors import NotFound

logger = logging.getLogger(__name__)


@dataclass
class Dashboard:
    """Every figure of the statistics page for one cycle and scope."""

    scope: StatScope
    cycle: Cycle
    now: datetime
    year: int
    progress: Progress
    score_source: str
    bands: list[Bucket] = field(default_factory=list)
    by_office: list[results.GroupResult] = field(default_factory=list)
    by_type: list[results.GroupResult] = field(default_factory=list)
    indicators: list[results.IndicatorShare] = field(default_factory=list)
    ledger: list[results.LedgerMonth] = field(default_factory=list)
    trends: list[results.CycleTrend] = field(default_factory=list)

    def buckets(self) -> dict[str, Bucket]:
        """Return every number of the dashboard by its reference."""
        found = [*self.progress.funnel, *self.progress.rounds, *self.bands]
        on_time = self.progress.on_time
        found += [on_time.issued, on_time.on_time, on_time.late, on_time.not_submitted]
        found.append(self.progress.overdue_units)
        for group in (*self.by_office, *self.by_type):
            found += [group.issued, group.scored, group.passed, group.failed]
        found += [row.reviewed for row in self.indicators]
        found += [month.units for month in self.ledger]
        for trend in self.trends:
            found += [trend.issued, trend.on_time, trend.archived]
        return {b.ref: b for b in found}


@dataclass(frozen=True)
class DrillRow:
    """A unit behind a number, with the state of its creation task."""

    unit_id: int
    unit_name: str
    office_name: str
    unit_type: str
    instance_id: int | None
    status: str | None
    outcome: str | None
    waiting: tuple[str, ...]
    score: Decimal | None


@dataclass(frozen=True)
class Drill:
    """The units behind one number of the dashboard."""

    bucket: Bucket
    cycle: Cycle
    rows: list[DrillRow]


def build_dashboard(
    session: Session, scope: StatScope, cycle: Cycle, *, now: datetime, year: int
) -> Dashboard:
    """Compute every figure of the cycle's dashboard in the scope."""
    issued = issued_map(session, scope, cycle)
    scores = results.final_scores(session, scope, cycle)

    board = Dashboard(
        scope=scope,
        cycle=cycle,
        now=now,
        year=year,
        progress=progress(session, scope, cycle, now),
        score_source=results.score_source(cycle),
    )
    board.bands = results.score_bands(scores)
    board.by_office = results.results_by_office(session, scope, issued, scores)
    board.by_type = results.results_by_type(session, issued, scores)
    board.indicators = results.weakest_indicators(session, scope, cycle, issued)
    board.ledger = results.ledger_by_month(session, scope, year)
    board.trends = results.trends(session, scope)
    logger.info(
        "statistics computed",
        extra={"cycle_id": cycle.id, "scope_path": scope.path},
    )
    return board


def drill(session: Session, board: Dashboard, ref: str) -> Drill:
    """Return the units behind the dashboard number named by the reference."""
    found = board.buckets().get(ref)
    if found is None:
        raise NotFound(f"the figure “{ref}” is not on this dashboard")
    cycle = board.cycle
    if ref.startswith("trend."):
        cycle_id = int(ref.split(".")[1])
        cycle = next(c for c in _trend_cycles(session, board) if c.id == cycle_id)
    return Drill(found, cycle, drill_rows(session, board.scope, cycle, found))


def _trend_cycles(session: Session, board: Dashboard) -> list[Cycle]:
    ids = [trend.cycle_id for trend in board.trends]
    return list(session.scalars(select(Cycle).where(Cycle.id.in_(ids))))


def drill_rows(
    session: Session, scope: StatScope, cycle: Cycle, found: Bucket
) -> list[DrillRow]:
    """Return a row per unit of the bucket with its task state and score."""
    if not found.unit_ids:
        return []
    units = session.execute(
        select(Unit, Office.name)
        .join(Office, Office.id == Unit.office_id)
        .where(Unit.id.in_(found.unit_ids))
        .order_by(Unit.name, Unit.id)
    ).tuples()
    instances = _instances_by_unit(session, scope, cycle)
    waiting = _waiting_titles(session, [i.id for i in instances.values()])
    scores = results.final_scores(session, scope, cycle)
    rows = []
    for unit, office_name in units:
        instance = instances.get(unit.id)
        score = scores.get(unit.id)
        rows.append(
            DrillRow(
                unit_id=unit.id,
                unit_name=unit.name,
                office_name=office_name,
                unit_type=unit.unit_type,
                instance_id=instance.id if instance else None,
                status=instance.status if instance else None,
                outcome=instance.outcome if instance else None,
                waiting=tuple(waiting.get(instance.id, ())) if instance else (),
                score=score.score if score else None,
            )
        )
    return rows


def _instances_by_unit(
    session: Session, scope: StatScope, cycle: Cycle
) -> dict[int, ProcessInstance]:
    ids = ids_query(scope, cycle)
    query = select(ProcessInstance).where(ProcessInstance.id.in_(ids))
    return {i.unit_id: i for i in session.scalars(query)}


def _waiting_titles(session: Session, instance_ids: list[int]) -> dict[int, list]:
    if not instance_ids:
        return {}
    query = (
        select(HumanTask.instance_id, HumanTask.title)
        .where(HumanTask.instance_id.in_(instance_ids), HumanTask.state == "ready")
        .order_by(HumanTask.id)
    )
    titles: dict[int, list] = {}
    for instance_id, title in session.execute(query).tuples():
        titles.setdefault(instance_id, []).append(title)
    return titles
