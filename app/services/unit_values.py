"""Reading a unit as an administrator types it, in a form or a workbook row.

Values arrive as text, numbers, dates or booleans; each is checked and typed,
and every problem is reported with its field, kind and values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from app.models import Office
from app.models.organisation import TITLE_LEVELS, TITLE_STATUSES
from app.services.organisation_admin import (
    CODE_MAX_CHARS,
    NAME_MAX_CHARS,
    Problems,
    read_text,
)
from app.services.titles import HELD_STATUSES

TYPE_MAX_CHARS = 40
TRUE_WORDS = ("yes", "y", "true", "1", "是")
FALSE_WORDS = ("no", "n", "false", "0", "否")


@dataclass
class UnitSpec:
    """A unit as an administrator describes it, checked and typed."""

    name: str
    code: str
    unit_type: str
    office: Office | None
    target_level: str
    title_level: str | None
    title_status: str
    title_term_start: date | None
    title_term_end: date | None
    needs_leader_signoff: bool

    def values(self) -> dict[str, object]:
        """Return the unit's own columns, the office left out."""
        return {
            "name": self.name,
            "code": self.code,
            "unit_type": self.unit_type,
            "target_level": self.target_level,
            "title_level": self.title_level,
            "title_status": self.title_status,
            "title_term_start": self.title_term_start,
            "title_term_end": self.title_term_end,
            "needs_leader_signoff": self.needs_leader_signoff,
        }


def read_unit(
    problems: Problems, raw: Mapping[str, object], offices: Mapping[str, Office]
) -> UnitSpec:
    """Check a unit's values as typed in a form or a workbook row."""
    office_code = read_text(
        problems, "office_code", raw.get("office_code"), CODE_MAX_CHARS
    )
    office = offices.get(office_code)
    if office_code and office is None:
        problems.report(
            "office_code",
            "office_unknown",
            f"no office of your area has the code {office_code}",
            value=office_code,
        )
    spec = UnitSpec(
        name=read_text(problems, "name", raw.get("name"), NAME_MAX_CHARS),
        code=read_text(problems, "code", raw.get("code"), CODE_MAX_CHARS),
        unit_type=read_text(
            problems, "unit_type", raw.get("unit_type"), TYPE_MAX_CHARS
        ),
        office=office,
        target_level=_choice(problems, "target_level", raw, TITLE_LEVELS, "county"),
        title_level=_choice(problems, "title_level", raw, TITLE_LEVELS, None),
        title_status=_choice(problems, "title_status", raw, TITLE_STATUSES, "none"),
        title_term_start=_date(problems, "term_start", raw.get("term_start")),
        title_term_end=_date(problems, "term_end", raw.get("term_end")),
        needs_leader_signoff=_flag(problems, "needs_leader_signoff", raw),
    )
    _check_title(problems, spec)
    return spec


def _check_title(problems: Problems, spec: UnitSpec) -> None:
    start, end = spec.title_term_start, spec.title_term_end
    if start and end and end < start:
        problems.report("term_end", "term_order", "the term ends before it starts")
    if spec.title_status in HELD_STATUSES and spec.title_level is None:
        problems.report(
            "title_level",
            "level_needed",
            f"a unit whose title status is {spec.title_status} needs a title level",
            status=spec.title_status,
        )


def _choice(problems, field_name, raw, options, default):
    value = raw.get(field_name)
    text = "" if value is None else str(value).strip()
    if not text:
        return default
    if text not in options:
        problems.report(
            field_name,
            "choice",
            f"{text} is not one of {', '.join(options)}",
            value=text,
        )
        return default
    return text


def _date(problems: Problems, field_name: str, value: object) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip().replace("/", "-")
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems.report(
            field_name,
            "date",
            f"{value} is not a date such as 2026-01-31",
            value=str(value),
        )
        return None


def _flag(problems: Problems, field_name: str, raw: Mapping[str, object]) -> bool:
    value = raw.get(field_name)
    if isinstance(value, bool):
        return value
    text = "" if value is None else str(value).strip().lower()
    if text in ("", *FALSE_WORDS):
        return False
    if text in TRUE_WORDS:
        return True
    problems.report(field_name, "yes_no", f"{value} is neither yes nor no", value=text)
    return False
