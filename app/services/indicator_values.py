"""A version's settings and tree as plain values, and plain values stored back.

Copying a version, exporting it, checking it and importing a workbook all pass
through these values, so each of them sees a version the same way.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy.orm import Session

from app.models import Indicator, IndicatorSystem
from app.services.indicator_rules import CategorySpec, IndicatorSpec, SettingsSpec
from app.services.indicators import DEFAULT_GRADES


def settings_of(system: IndicatorSystem) -> SettingsSpec:
    """Return a version's settings as plain values."""
    grades = {**DEFAULT_GRADES, **(system.grade_thresholds or {})}
    return SettingsSpec(
        name=system.name,
        base_points=Decimal(system.base_points),
        bonus_cap=Decimal(system.bonus_cap),
        model_threshold=Decimal(str(grades["model"])),
        keep_threshold=Decimal(str(grades["keep"])),
        late_points_per_day=Decimal(system.late_points_per_day),
        late_points_cap=Decimal(system.late_points_cap),
    )


def apply_settings(system: IndicatorSystem, settings: SettingsSpec) -> None:
    """Copy settings from plain values onto a version."""
    system.name = settings.name
    system.base_points = settings.base_points
    system.bonus_cap = settings.bonus_cap
    # A new dict, so the JSON column sees the change.
    system.grade_thresholds = {
        **(system.grade_thresholds or {}),
        "model": _json_number(settings.model_threshold),
        "keep": _json_number(settings.keep_threshold),
    }
    system.late_points_per_day = settings.late_points_per_day
    system.late_points_cap = settings.late_points_cap


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def tree_of(system: IndicatorSystem) -> list[CategorySpec]:
    """Return a version's categories and their indicators as plain values."""
    items: dict[int, list[Indicator]] = defaultdict(list)
    for indicator in system.indicators:
        if indicator.parent_id is not None:
            items[indicator.parent_id].append(indicator)
    return [
        CategorySpec(
            code=category.code,
            name=category.name,
            kind=category.item_kind or "base",
            indicators=[indicator_spec(i) for i in items[category.id]],
        )
        for category in system.indicators
        if category.kind == "category"
    ]


def indicator_spec(indicator: Indicator) -> IndicatorSpec:
    """Return an indicator's fields as plain values."""
    return IndicatorSpec(
        code=indicator.code,
        name=indicator.name,
        points=Decimal(indicator.points),
        per_item_points=(
            None
            if indicator.per_item_points is None
            else Decimal(indicator.per_item_points)
        ),
        method=indicator.method,
        office_only=indicator.office_only,
        min_photos=indicator.min_photos,
        min_documents=indicator.min_documents,
        min_explanation_chars=indicator.min_explanation_chars,
        max_explanation_chars=indicator.max_explanation_chars,
        guidance=indicator.guidance or "",
    )


def write_tree(
    session: Session, system: IndicatorSystem, tree: list[CategorySpec]
) -> None:
    """Add the categories and indicators to a version that has none yet."""
    position = 0
    for spec in tree:
        position += 1
        category = Indicator(
            system_id=system.id,
            code=spec.code,
            name=spec.name,
            kind="category",
            item_kind=spec.kind,
            points=Decimal(0),
            position=position,
        )
        session.add(category)
        for item in spec.indicators:
            position += 1
            indicator = Indicator(system_id=system.id, parent=category, kind=spec.kind)
            fill_indicator(indicator, item)
            indicator.position = position
            session.add(indicator)
    session.flush()
    session.expire(system, ["indicators"])


def fill_indicator(indicator: Indicator, spec: IndicatorSpec) -> None:
    """Copy an indicator's fields from plain values."""
    indicator.code = spec.code
    indicator.name = spec.name
    indicator.points = spec.points
    indicator.per_item_points = spec.per_item_points
    indicator.method = spec.method
    indicator.office_only = spec.office_only
    indicator.min_photos = spec.min_photos
    indicator.min_documents = spec.min_documents
    indicator.min_explanation_chars = spec.min_explanation_chars
    indicator.max_explanation_chars = spec.max_explanation_chars
    indicator.guidance = spec.guidance


def clear_tree(session: Session, system: IndicatorSystem) -> None:
    """Remove every category and indicator of a draft, items before categories."""
    tree = list(system.indicators)
    for categories in (False, True):
        for indicator in tree:
            if (indicator.kind == "category") == categories:
                session.delete(indicator)
        session.flush()
    session.expire(system, ["indicators"])
