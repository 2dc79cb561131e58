"""Statistics of scores: bands, results by office and type, weak indicators, trends.

Final scores come from the cycle results (测评结果) once the cycle is closed, since
those include late and recorded deductions; before the close they come from the
archive rows (归档) of the creation tasks finished so far.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import extract, func, select
from sqlalchemy.orm import Session

from app.models import (
    Archive,
    Cycle,
    CycleResult,
    Indicator,
    Office,
    Review,
    ReviewScore,
    Unit,
)
from app.models.ledger import LedgerEntry
from app.services.statistics import (
    Bucket,
    StatScope,
    aware,
    bucket,
    first_submissions,
    ids_query,
    issued_map,
    visible_cycles,
)

logger = logging.getLogger(__name__)

PASSING_GRADES = ("model", "keep")
# Lower bound (inclusive), upper bound (exclusive) and label of each score band.
SCORE_BANDS = (
    (None, 60, "<60"),
    (60, 70, "60–70"),
    (70, 80, "70–80"),
    (80, 85, "80–85"),
    (85, 90, "85–90"),
    (90, 95, "90–95"),
    (95, None, "≥95"),
)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class FinalScore:
    """A unit's final score and grade in a cycle."""

    unit_id: int
    score: Decimal
    grade: str

    @property
    def passed(self) -> bool:
        """Tell whether the grade keeps or earns the title."""
        return self.grade in PASSING_GRADES


@dataclass(frozen=True)
class GroupResult:
    """Results of the units of a group: a sub-office or a unit type."""

    key: str
    label: str
    issued: Bucket
    scored: Bucket
    passed: Bucket
    failed: Bucket
    average: Decimal | None


@dataclass(frozen=True)
class IndicatorShare:
    """How much of an indicator's points the latest reviews gave, on average."""

    code: str
    name: str
    points: Decimal
    reviewed: Bucket
    average_share: float


@dataclass(frozen=True)
class LedgerMonth:
    """A month of ledger activity in the scope."""

    month: int
    entries: int
    participants: int
    volunteer_hours: Decimal
    units: Bucket


@dataclass(frozen=True)
class CycleTrend:
    """One cycle's headline numbers in the scope."""

    cycle_id: int
    name: str
    issued: Bucket
    on_time: Bucket
    archived: Bucket
    average_score: Decimal | None

    @property
    def on_time_rate(self) -> float | None:
        """Return the share of issued units that submitted on time, in percent."""
        return percent(self.on_time.count, self.issued.count)

    @property
    def archived_share(self) -> float | None:
        """Return the share of issued units whose task is archived, in percent."""
        return percent(self.archived.count, self.issued.count)


def percent(part: int, whole: int) -> float | None:
    """Return part of whole in percent with one decimal, None for an empty whole."""
    return round(100 * part / whole, 1) if whole else None


def average(values: list[Decimal]) -> Decimal | None:
    """Return the mean rounded to cents, None when there is nothing to average."""
    if not values:
        return None
    return (sum(values, Decimal(0)) / len(values)).quantize(CENT, ROUND_HALF_UP)


def score_source(cycle: Cycle) -> str:
    """Name where the cycle's final scores come from: results or archive."""
    return "results" if cycle.closed_at is not None else "archive"


def final_scores(
    session: Session, scope: StatScope, cycle: Cycle
) -> dict[int, FinalScore]:
    """Return the final score of each unit in scope, by unit id."""
    if score_source(cycle) == "results":
        query = select(
            CycleResult.unit_id, CycleResult.final_score, CycleResult.grade
        ).where(CycleResult.cycle_id == cycle.id)
        query = query.join(Unit, Unit.id == CycleResult.unit_id)
    else:
        query = select(Archive.unit_id, Archive.final_score, Archive.grade).where(
            Archive.instance_id.in_(ids_query(scope, cycle))
        )
        query = query.join(Unit, Unit.id == Archive.unit_id)
    query = query.where(Unit.path.startswith(scope.path, autoescape=True))
    return {
        unit_id: FinalScore(unit_id, Decimal(score), grade)
        for unit_id, score, grade in session.execute(query).tuples()
    }


def score_bands(scores: dict[int, FinalScore]) -> list[Bucket]:
    """Return how many units fall into each score band."""
    bands = []
    for index, (low, high, label) in enumerate(SCORE_BANDS):
        units = [
            s.unit_id
            for s in scores.values()
            if (low is None or s.score >= low) and (high is None or s.score < high)
        ]
        bands.append(bucket(f"bands.{index}", label, units))
    return bands


def results_by_office(
    session: Session, scope: StatScope, issued: dict[int, int], scores
) -> list[GroupResult]:
    """Return the results of each direct sub-office of the scope, and its own units."""
    units = _unit_rows(session, issued.values())
    children = _child_offices(session, scope)
    groups = []
    for office in children:
        members = [u for u, path, _t in units if path.startswith(office.path)]
        groups.append(_group(f"offices.{office.id}", office.name, members, scores))
    if scope.office is not None:
        own = [u for u, path, _t in units if _managed_by(path, scope.path)]
        groups.append(_group("offices.own", scope.office.name, own, scores))
    return groups


def results_by_type(
    session: Session, issued: dict[int, int], scores
) -> list[GroupResult]:
    """Return the results of each unit type among the issued units."""
    units = _unit_rows(session, issued.values())
    types = sorted({unit_type for _u, _p, unit_type in units})
    return [
        _group(
            f"types.{unit_type}",
            unit_type,
            [u for u, _p, t in units if t == unit_type],
            scores,
        )
        for unit_type in types
    ]


def _managed_by(unit_path: str, office_path: str) -> bool:
    rest = unit_path[len(office_path) :]
    return unit_path.startswith(office_path) and rest.startswith("u")


def _unit_rows(session: Session, unit_ids) -> list[tuple[int, str, str]]:
    ids = sorted(set(unit_ids))
    if not ids:
        return []
    query = select(Unit.id, Unit.path, Unit.unit_type).where(Unit.id.in_(ids))
    return list(session.execute(query).tuples())


def _child_offices(session: Session, scope: StatScope) -> list[Office]:
    parent_id = scope.office.id if scope.office is not None else None
    query = select(Office).where(Office.parent_id.is_(None))
    if parent_id is not None:
        query = select(Office).where(Office.parent_id == parent_id)
    return list(session.scalars(query.order_by(Office.path)))


def _group(key: str, label: str, members: list[int], scores) -> GroupResult:
    scored = [scores[u] for u in members if u in scores]
    return GroupResult(
        key=key,
        label=label,
        issued=bucket(f"{key}.issued", label, members),
        scored=bucket(f"{key}.scored", label, [s.unit_id for s in scored]),
        passed=bucket(f"{key}.passed", label, [s.unit_id for s in scored if s.passed]),
        failed=bucket(
            f"{key}.failed", label, [s.unit_id for s in scored if not s.passed]
        ),
        average=average([s.score for s in scored]),
    )


def weakest_indicators(
    session: Session, scope: StatScope, cycle: Cycle, issued: dict[int, int]
) -> list[IndicatorShare]:
    """Return base indicators by their average share of points, lowest first."""
    latest = (
        select(func.max(Review.id))
        .where(Review.instance_id.in_(ids_query(scope, cycle)))
        .group_by(Review.instance_id)
    )
    query = (
        select(Review.instance_id, Indicator, ReviewScore.score)
        .join(ReviewScore, ReviewScore.review_id == Review.id)
        .join(Indicator, Indicator.id == ReviewScore.indicator_id)
        .where(Review.id.in_(latest), Indicator.kind == "base", Indicator.points > 0)
    )
    shares: dict[int, tuple[Indicator, list[Decimal], list[int]]] = {}
    for instance_id, indicator, score in session.execute(query).tuples():
        entry = shares.setdefault(indicator.id, (indicator, [], []))
        entry[1].append(Decimal(score) / Decimal(indicator.points))
        entry[2].append(issued[instance_id])
    rows = [
        IndicatorShare(
            code=indicator.code,
            name=indicator.name,
            points=indicator.points,
            reviewed=bucket(f"indicators.{indicator.code}", indicator.code, units),
            average_share=round(float(100 * sum(values) / len(values)), 1),
        )
        for indicator, values, units in shares.values()
    ]
    return sorted(rows, key=lambda r: (r.average_share, r.code))


def ledger_by_month(session: Session, scope: StatScope, year: int) -> list[LedgerMonth]:
    """Return ledger entries, participants and volunteer hours per month of a year."""
    month = extract("month", LedgerEntry.occurred_on)
    query = (
        select(month, LedgerEntry.unit_id, LedgerEntry.participants)
        .add_columns(LedgerEntry.volunteer_hours)
        .join(Unit, Unit.id == LedgerEntry.unit_id)
        .where(
            Unit.path.startswith(scope.path, autoescape=True),
            extract("year", LedgerEntry.occurred_on) == year,
        )
    )
    rows = session.execute(query).tuples().all()
    months = []
    for number in range(1, 13):
        mine = [r for r in rows if int(r[0]) == number]
        months.append(
            LedgerMonth(
                month=number,
                entries=len(mine),
                participants=sum(r[2] or 0 for r in mine),
                volunteer_hours=sum((Decimal(r[3] or 0) for r in mine), Decimal(0)),
                units=bucket(
                    f"ledger.{number}", f"{year}-{number:02d}", (r[1] for r in mine)
                ),
            )
        )
    return months


def trends(session: Session, scope: StatScope) -> list[CycleTrend]:
    """Return each cycle's issued, on-time, archived and average score, oldest first."""
    return [
        cycle_trend(session, scope, cycle)
        for cycle in reversed(visible_cycles(session, scope))
    ]


def cycle_trend(session: Session, scope: StatScope, cycle: Cycle) -> CycleTrend:
    """Return one cycle's headline numbers in the scope."""
    issued = issued_map(session, scope, cycle)
    ids = ids_query(scope, cycle)
    submitted = first_submissions(session, ids)
    due = aware(cycle.submission_due)
    archived = session.scalars(
        select(Archive.instance_id).where(Archive.instance_id.in_(ids))
    ).all()
    scores = final_scores(session, scope, cycle)

    key = f"trend.{cycle.id}"
    return CycleTrend(
        cycle_id=cycle.id,
        name=cycle.name,
        issued=bucket(f"{key}.issued", cycle.name, issued.values()),
        on_time=bucket(
            f"{key}.on_time",
            cycle.name,
            (issued[i] for i, at in submitted.items() if at <= due),
        ),
        archived=bucket(f"{key}.archived", cycle.name, (issued[i] for i in archived)),
        average_score=average([s.score for s in scores.values()]),
    )
