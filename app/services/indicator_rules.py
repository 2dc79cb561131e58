"""The rules an indicator system's tree and settings follow, as plain values.

Editing a draft checks each field as it is saved; publishing checks the whole version.
Messages are English message ids with named values, so a page can translate them
and a log or the command line can read them as they are.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from app.models.indicators import ITEM_KINDS, METHODS

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
SYSTEM_CODE_MAX_CHARS = 40
SYSTEM_NAME_MAX_CHARS = 120
CODE_MAX_CHARS = 20
NAME_MAX_CHARS = 200
GUIDANCE_MAX_CHARS = 500
POINTS_MAX = Decimal(1000)
EVIDENCE_MAX_COUNT = 50
EXPLANATION_MAX_CHARS = 20000
ZERO = Decimal(0)


def N_(message: str) -> str:
    """Mark a message id for translation; the page translates it when shown."""
    return message


@dataclass(frozen=True)
class Problem:
    """One thing to correct: a message id, its values, and where the problem is."""

    message: str
    values: dict = field(default_factory=dict)
    code: str | None = None
    field_name: str | None = None
    row: int | None = None

    def __str__(self) -> str:
        return self.message % self.values

    def as_dict(self) -> dict:
        """Return the problem as JSON-ready values."""
        return {
            "message": self.message,
            "values": dict(self.values),
            "code": self.code,
            "field": self.field_name,
            "row": self.row,
            "text": str(self),
        }


@dataclass
class IndicatorSpec:
    """A scored item of a category, as typed on a form or in a workbook row."""

    code: str
    name: str
    points: Decimal = ZERO
    per_item_points: Decimal | None = None
    method: str = "materials"
    office_only: bool = False
    min_photos: int = 0
    min_documents: int = 0
    min_explanation_chars: int = 0
    max_explanation_chars: int = 500
    guidance: str = ""


@dataclass
class CategorySpec:
    """A category with the kind its items carry and the items in display order."""

    code: str
    name: str
    kind: str
    indicators: list[IndicatorSpec] = field(default_factory=list)


@dataclass
class SettingsSpec:
    """A version's settings: its name, base points, bonus cap, grades, late points."""

    name: str
    base_points: Decimal = Decimal(100)
    bonus_cap: Decimal = Decimal(10)
    model_threshold: Decimal = Decimal(95)
    keep_threshold: Decimal = Decimal(85)
    late_points_per_day: Decimal = Decimal(1)
    late_points_cap: Decimal = Decimal(5)


def code_problems(code: str, max_chars: int = CODE_MAX_CHARS) -> list[Problem]:
    """Check a code: required, short, letters and digits with . - _ inside."""
    if not code:
        return [Problem(N_("enter a code"), field_name="code")]
    if len(code) > max_chars:
        return [
            Problem(
                N_("a code has at most %(limit)d characters"),
                {"limit": max_chars},
                field_name="code",
            )
        ]
    if not CODE_PATTERN.match(code):
        return [
            Problem(
                N_(
                    "use letters, digits and . - _ in a code, starting with a "
                    "letter or digit"
                ),
                field_name="code",
            )
        ]
    return []


def name_problems(name: str, max_chars: int = NAME_MAX_CHARS) -> list[Problem]:
    """Check a name: required and not too long."""
    if not name:
        return [Problem(N_("enter a name"), field_name="name")]
    if len(name) > max_chars:
        return [
            Problem(
                N_("a name has at most %(limit)d characters"),
                {"limit": max_chars},
                field_name="name",
            )
        ]
    return []


def category_problems(spec: CategorySpec) -> list[Problem]:
    """Check a category's own fields."""
    problems = code_problems(spec.code) + name_problems(spec.name)
    if spec.kind not in ITEM_KINDS:
        problems.append(
            Problem(N_("choose base, bonus, deduction or veto"), field_name="kind")
        )
    return problems


def indicator_problems(spec: IndicatorSpec) -> list[Problem]:
    """Check an indicator's own fields; the whole version is checked on publishing."""
    problems = code_problems(spec.code) + name_problems(spec.name)
    problems += _points_problems("points", spec.points, allow_zero=True)
    if spec.per_item_points is not None:
        problems += _points_problems(
            "per_item_points", spec.per_item_points, allow_zero=False
        )
    if spec.method not in METHODS:
        problems.append(
            Problem(N_("choose a method from the list"), field_name="method")
        )
    for name in ("min_photos", "min_documents"):
        problems += _count_problems(name, getattr(spec, name), EVIDENCE_MAX_COUNT)
    problems += _count_problems(
        "min_explanation_chars", spec.min_explanation_chars, EXPLANATION_MAX_CHARS
    )
    problems += _count_problems(
        "max_explanation_chars", spec.max_explanation_chars, EXPLANATION_MAX_CHARS
    )
    if spec.min_explanation_chars > spec.max_explanation_chars:
        problems.append(
            Problem(
                N_("the minimum is more than the maximum of %(maximum)d characters"),
                {"maximum": spec.max_explanation_chars},
                field_name="min_explanation_chars",
            )
        )
    if len(spec.guidance) > GUIDANCE_MAX_CHARS:
        problems.append(
            Problem(
                N_("guidance has at most %(limit)d characters"),
                {"limit": GUIDANCE_MAX_CHARS},
                field_name="guidance",
            )
        )
    return problems


def settings_problems(spec: SettingsSpec) -> list[Problem]:
    """Check a version's settings as they are saved."""
    problems = name_problems(spec.name, SYSTEM_NAME_MAX_CHARS)
    problems += _points_problems("base_points", spec.base_points, allow_zero=False)
    for name in (
        "bonus_cap",
        "model_threshold",
        "keep_threshold",
        "late_points_per_day",
        "late_points_cap",
    ):
        problems += _points_problems(name, getattr(spec, name), allow_zero=True)
    return problems


def _points_problems(name: str, value: Decimal, *, allow_zero: bool) -> list[Problem]:
    if value < ZERO or (value == ZERO and not allow_zero):
        message = N_("must be 0 or more") if allow_zero else N_("must be more than 0")
        return [Problem(message, field_name=name)]
    if value > POINTS_MAX:
        return [
            Problem(
                N_("must be at most %(limit)s"),
                {"limit": str(POINTS_MAX)},
                field_name=name,
            )
        ]
    return []


def _count_problems(name: str, value: int, limit: int) -> list[Problem]:
    if value < 0:
        return [Problem(N_("must be 0 or more"), field_name=name)]
    if value > limit:
        return [
            Problem(N_("must be at most %(limit)s"), {"limit": limit}, field_name=name)
        ]
    return []


def publication_problems(
    settings: SettingsSpec, tree: list[CategorySpec]
) -> list[Problem]:
    """Return what keeps a version from being published, in reading order.

    The base points of a version are a target the administrator sets (100 in the
    demo): the base indicators must add up to exactly that. A deduction item needs
    per-item points, except one that carries no points at all, whose points are
    given with each recorded deduction (as for an unreported incident, which
    doubles whatever the incident costs).
    """
    problems = duplicate_code_problems(tree)
    for category in tree:
        if not category.indicators:
            problems.append(
                Problem(
                    N_("category %(code)s has no indicators"),
                    {"code": category.code},
                    code=category.code,
                )
            )
        for item in category.indicators:
            problems += _item_problems(category.kind, item)
    problems += _total_problems(settings, tree)
    return problems


def duplicate_code_problems(tree: list[CategorySpec]) -> list[Problem]:
    """Return a problem for each code used more than once in a tree."""
    codes = Counter(
        code
        for category in tree
        for code in (category.code, *(item.code for item in category.indicators))
    )
    return [
        Problem(
            N_("code %(code)s is used %(count)d times; codes must be unique"),
            {"code": code, "count": count},
            code=code,
        )
        for code, count in codes.items()
        if count > 1
    ]


def _item_problems(kind: str, item: IndicatorSpec) -> list[Problem]:
    values = {"code": item.code, "points": plain_points(item.points)}
    each = item.per_item_points
    if kind == "base" and item.points <= ZERO:
        message = N_("base indicator %(code)s has no points")
    elif kind == "bonus" and item.points <= ZERO:
        message = N_("bonus indicator %(code)s has no points: enter the most it adds")
    elif kind == "bonus" and each is not None and each > item.points:
        values["each"] = plain_points(each)
        message = N_(
            "bonus indicator %(code)s adds %(each)s per item, more than its "
            "%(points)s points"
        )
    elif kind == "deduction" and each is None and item.points > ZERO:
        message = N_(
            "deduction item %(code)s needs per-item points: what each case costs"
        )
    elif kind == "veto" and (item.points != ZERO or each is not None):
        message = N_(
            "veto item %(code)s carries points; a veto fails the unit outright, "
            "so leave its points empty"
        )
    else:
        return []
    return [Problem(message, values, code=item.code)]


def _total_problems(settings: SettingsSpec, tree: list[CategorySpec]) -> list[Problem]:
    problems = []
    base_total = sum(
        (i.points for c in tree if c.kind == "base" for i in c.indicators), ZERO
    )
    if base_total != settings.base_points:
        problems.append(
            Problem(
                N_(
                    "the base indicators add up to %(total)s points, not the "
                    "%(target)s base points of the system"
                ),
                {
                    "total": plain_points(base_total),
                    "target": plain_points(settings.base_points),
                },
            )
        )
    if settings.bonus_cap <= ZERO:
        problems.append(Problem(N_("the bonus cap must be more than 0")))
    keep, model = settings.keep_threshold, settings.model_threshold
    best = settings.base_points + settings.bonus_cap
    if keep >= model:
        problems.append(
            Problem(
                N_(
                    "the threshold to keep the title (%(keep)s) must be below the "
                    "model unit threshold (%(model)s)"
                ),
                {"keep": plain_points(keep), "model": plain_points(model)},
            )
        )
    if model > best:
        problems.append(
            Problem(
                N_(
                    "the model unit threshold (%(model)s) is above the best possible "
                    "score of %(best)s (base points plus bonus cap)"
                ),
                {"model": plain_points(model), "best": plain_points(best)},
            )
        )
    return problems


def plain_points(value: Decimal) -> str:
    """Write points without trailing zeros: 5, 7.5, 0."""
    return format(Decimal(value).normalize(), "f")
