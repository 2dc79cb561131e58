"""Reading the ledger: filtered lists, the month calendar, coverage per unit."""

from __future__ import annotations

import calendar
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Select, distinct, extract, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.models import EvidenceFile, Indicator, IndicatorSystem, Office, Unit, User
from app.models.ledger import LedgerEntry
from app.services import ledger
from processes.errors import Forbidden

PAGE_SIZE = 20
GOOD_PRACTICE_LIMIT = 200


@dataclass
class LedgerFilters:
    """The list and calendar filters: indicator code, month or year, unit, page."""

    indicator: str = ""
    month: date | None = None
    year: int | None = None
    unit_id: int | None = None
    page: int = 1

    @classmethod
    def from_args(cls, args: Mapping) -> tuple[LedgerFilters, dict[str, str]]:
        """Read the filters from query arguments; bad values are dropped, noted."""
        errors: dict[str, str] = {}
        filters = cls(indicator=(args.get("indicator") or "").strip()[:20])
        filters.month = _month(args.get("month"), errors)
        year = (args.get("year") or "").strip()
        if year:
            if year.isdigit() and 2000 <= int(year) <= 2100:
                filters.year = int(year)
            else:
                errors["year"] = "year"
        unit = (args.get("unit") or "").strip()
        filters.unit_id = int(unit) if unit.isdigit() else None
        page = (args.get("page") or "1").strip()
        filters.page = max(1, int(page)) if page.isdigit() else 1
        return filters, errors

    def as_args(self) -> dict[str, str]:
        """Return the filters as query arguments, for links and the pager."""
        args = {"indicator": self.indicator}
        if self.month:
            args["month"] = self.month.strftime("%Y-%m")
        if self.year:
            args["year"] = str(self.year)
        if self.unit_id:
            args["unit"] = str(self.unit_id)
        return {k: v for k, v in args.items() if v}


def _month(raw, errors: dict[str, str]) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(f"{raw}-01")
    except ValueError:
        errors["month"] = "month"
        return None


@dataclass(frozen=True)
class LedgerRow:
    """An entry as a list shows it: with its unit, indicator name and file count."""

    entry: LedgerEntry
    unit: Unit
    indicator_name: str
    files: int


@dataclass
class EntryList:
    """A page of ledger entries."""

    rows: list[LedgerRow]
    total: int
    page: int
    pages: int


def in_scope(user: User) -> ColumnElement[bool]:
    """Return the SQL condition for units in the user's unit or office subtree."""
    return Unit.path.startswith(user.scope_path or "\x00", autoescape=True)


def select_units_in_scope(user: User) -> Select:
    """Return the query of the units in the user's scope, in tree order."""
    return select(Unit).where(in_scope(user)).order_by(Unit.path)


def _filtered(user: User, filters: LedgerFilters):
    query = (
        select(LedgerEntry, Unit, Indicator.name)
        .join(Unit, Unit.id == LedgerEntry.unit_id)
        .join(Indicator, Indicator.id == LedgerEntry.indicator_id)
        .where(in_scope(user))
    )
    if filters.indicator:
        query = query.where(LedgerEntry.indicator_code == filters.indicator)
    if filters.unit_id:
        query = query.where(LedgerEntry.unit_id == filters.unit_id)
    start, end = _period(filters)
    if start is not None:
        query = query.where(LedgerEntry.occurred_on >= start)
        query = query.where(LedgerEntry.occurred_on < end)
    return query


def _period(filters: LedgerFilters) -> tuple[date | None, date | None]:
    if filters.month:
        return filters.month, _next_month(filters.month)
    if filters.year:
        return date(filters.year, 1, 1), date(filters.year + 1, 1, 1)
    return None, None


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def list_entries(session: Session, user: User, filters: LedgerFilters) -> EntryList:
    """Return a page of the entries in the user's scope, newest first."""
    ledger.check_reader(user)
    query = _filtered(user, filters)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(filters.page, pages)

    found = session.execute(
        query.order_by(LedgerEntry.occurred_on.desc(), LedgerEntry.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    counts = file_counts(session, [entry.id for entry, _, _ in found])
    rows = [
        LedgerRow(entry, unit, name, counts.get(entry.id, 0))
        for entry, unit, name in found
    ]
    return EntryList(rows, total, page, pages)


def file_counts(session: Session, entry_ids: list[int]) -> dict[int, int]:
    """Return how many own files each of these entries has, by entry id."""
    if not entry_ids:
        return {}
    query = (
        select(EvidenceFile.ledger_entry_id, func.count())
        .where(EvidenceFile.ledger_entry_id.in_(entry_ids))
        .where(EvidenceFile.response_id.is_(None))
        .group_by(EvidenceFile.ledger_entry_id)
    )
    return dict(session.execute(query).all())


def indicator_options(session: Session, user: User) -> list[tuple[str, str]]:
    """Return (code, name) of the indicators the filters offer to this user."""
    if user.unit_id is not None:
        unit = session.get(Unit, user.unit_id)
        offered = [(c.code, c.name) for c in ledger.indicator_choices(session, unit)]
    else:
        offered = list(office_indicators(session, user))
    codes = {code for code, _ in offered}
    used = session.execute(
        select(LedgerEntry.indicator_code, Indicator.name)
        .join(Indicator, Indicator.id == LedgerEntry.indicator_id)
        .join(Unit, Unit.id == LedgerEntry.unit_id)
        .where(in_scope(user))
        .distinct()
        .order_by(LedgerEntry.indicator_code)
    ).all()
    for code, name in used:
        if code not in codes:
            codes.add(code)
            offered.append((code, name))
    return offered


def office_indicators(session: Session, user: User) -> list[tuple[str, str]]:
    """Return the answerable indicators of the system an office works with."""
    query = select(IndicatorSystem.id).where(IndicatorSystem.published.is_(True))
    if user.office is not None:
        paths = [*ledger.ancestor_paths(user.office.path), user.office.path]
        query = query.join(Office, Office.id == IndicatorSystem.office_id).where(
            Office.path.in_(paths)
        )
    system_id = session.scalar(
        query.order_by(
            IndicatorSystem.published_at.desc(), IndicatorSystem.id.desc()
        ).limit(1)
    )
    if system_id is None:
        return []
    indicators = session.scalars(
        select(Indicator)
        .where(Indicator.system_id == system_id)
        .order_by(Indicator.position)
    )
    return [(i.code, i.name) for i in indicators if i.answerable_by_unit]


@dataclass
class CalendarDay:
    """One day of the month grid with the entries recorded on it."""

    day: date
    in_month: bool
    rows: list[LedgerRow] = field(default_factory=list)


@dataclass
class CalendarMonth:
    """A month grid, Monday first, with the months before and after."""

    month: date
    weeks: list[list[CalendarDay]]
    previous: date
    next: date
    total: int


def month_calendar(
    session: Session, user: User, month: date, filters: LedgerFilters
) -> CalendarMonth:
    """Return the month grid of the entries in scope, by the list's filters."""
    ledger.check_reader(user)
    first = month.replace(day=1)
    shown = LedgerFilters(
        indicator=filters.indicator, month=first, unit_id=filters.unit_id
    )
    found = session.execute(
        _filtered(user, shown).order_by(LedgerEntry.occurred_on, LedgerEntry.id)
    ).all()
    counts = file_counts(session, [entry.id for entry, _, _ in found])
    by_day: dict[date, list[LedgerRow]] = {}
    for entry, unit, name in found:
        row = LedgerRow(entry, unit, name, counts.get(entry.id, 0))
        by_day.setdefault(entry.occurred_on, []).append(row)

    grid = calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
    weeks = [
        [CalendarDay(d, d.month == first.month, by_day.get(d, [])) for d in week]
        for week in grid
    ]
    previous = (first - timedelta(days=1)).replace(day=1)
    return CalendarMonth(first, weeks, previous, _next_month(first), len(found))


@dataclass(frozen=True)
class CoverageRow:
    """One unit's months with entries per indicator code, in one year."""

    unit: Unit
    months: dict[str, int]
    months_any: int

    @property
    def total(self) -> int:
        """Return the indicator-months of the unit, summed over the indicators."""
        return sum(self.months.values())


@dataclass(frozen=True)
class Coverage:
    """The coverage table of an office's subtree for one year."""

    year: int
    indicators: list[tuple[str, str]]
    rows: list[CoverageRow]


def coverage(session: Session, user: User, year: int) -> Coverage:
    """Count per unit and indicator the months of a year that have entries."""
    if not ledger.is_staff(user):
        raise Forbidden("the ledger coverage is for office staff")
    start, end = date(year, 1, 1), date(year + 1, 1, 1)
    month = extract("month", LedgerEntry.occurred_on)
    in_year = (LedgerEntry.occurred_on >= start, LedgerEntry.occurred_on < end)
    cells = session.execute(
        select(
            LedgerEntry.unit_id, LedgerEntry.indicator_code, func.count(distinct(month))
        )
        .join(Unit, Unit.id == LedgerEntry.unit_id)
        .where(in_scope(user), *in_year)
        .group_by(LedgerEntry.unit_id, LedgerEntry.indicator_code)
    ).all()
    any_month = dict(
        session.execute(
            select(LedgerEntry.unit_id, func.count(distinct(month)))
            .join(Unit, Unit.id == LedgerEntry.unit_id)
            .where(in_scope(user), *in_year)
            .group_by(LedgerEntry.unit_id)
        ).all()
    )
    months: dict[int, dict[str, int]] = {}
    for unit_id, code, count in cells:
        months.setdefault(unit_id, {})[code] = count

    columns = office_indicators(session, user)
    known = {code for code, _ in columns}
    extra = sorted({code for _, code, _ in cells} - known)
    columns += [(code, code) for code in extra]
    units = session.scalars(select(Unit).where(in_scope(user)).order_by(Unit.path))
    rows = [
        CoverageRow(unit, months.get(unit.id, {}), any_month.get(unit.id, 0))
        for unit in units
    ]
    return Coverage(year, columns, rows)


def good_practice_list(session: Session, user: User) -> list[LedgerRow]:
    """Return the good-practice entries in the staff member's scope, newest first."""
    if not ledger.is_staff(user):
        raise Forbidden("the good-practice list is for office staff")
    found = session.execute(
        select(LedgerEntry, Unit, Indicator.name)
        .join(Unit, Unit.id == LedgerEntry.unit_id)
        .join(Indicator, Indicator.id == LedgerEntry.indicator_id)
        .where(in_scope(user), LedgerEntry.good_practice.is_(True))
        .order_by(LedgerEntry.good_practice_at.desc(), LedgerEntry.id.desc())
        .limit(GOOD_PRACTICE_LIMIT)
    ).all()
    counts = file_counts(session, [entry.id for entry, _, _ in found])
    return [LedgerRow(e, u, n, counts.get(e.id, 0)) for e, u, n in found]
