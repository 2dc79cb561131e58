"""Editing a draft's tree: categories and indicators, added, changed, moved, removed.

Every function changes one draft the user administers and queues its audit event;
the caller commits the step. Positions run through the whole tree, each category
followed by its indicators, so the display order is a plain sort by position.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from sqlalchemy.orm import Session

from app.models import Indicator, IndicatorSystem, User
from app.services.indicator_admin import (
    draft_for_change,
    raise_problems,
    record_change,
)
from app.services.indicator_rules import (
    N_,
    CategorySpec,
    IndicatorSpec,
    Problem,
    category_problems,
    duplicate_code_problems,
    indicator_problems,
)
from app.services.indicator_values import clear_tree, fill_indicator, write_tree
from processes.errors import InvalidInput, NotFound

logger = logging.getLogger(__name__)

DIRECTIONS = ("up", "down")


def add_category(
    session: Session, user: User, system_id: int, spec: CategorySpec
) -> Indicator:
    """Add an empty category at the end of a draft."""
    draft = draft_for_change(session, user, system_id)
    problems = category_problems(spec) + _code_taken(draft, spec.code)
    raise_problems(problems, "the category was not added")

    category = Indicator(
        system_id=draft.id,
        code=spec.code,
        name=spec.name,
        kind="category",
        item_kind=spec.kind,
        position=_end(draft),
    )
    session.add(category)
    _renumber(session, draft)

    record_change(session, "category_added", user, draft, item=spec.code)
    return category


def update_category(
    session: Session, user: User, system_id: int, category_id: int, spec: CategorySpec
) -> Indicator:
    """Change a category's code, name or kind; its indicators take the new kind."""
    draft = draft_for_change(session, user, system_id)
    category = _item(draft, category_id, category=True)
    problems = category_problems(spec) + _code_taken(draft, spec.code, category)
    raise_problems(problems, "the category was not saved")

    category.code = spec.code
    category.name = spec.name
    category.item_kind = spec.kind
    for item in _children(draft, category):
        item.kind = spec.kind

    record_change(session, "category_changed", user, draft, item=spec.code)
    return category


def add_indicator(
    session: Session,
    user: User,
    system_id: int,
    category_id: int,
    spec: IndicatorSpec,
) -> Indicator:
    """Add an indicator at the end of a category; it takes the category's kind."""
    draft = draft_for_change(session, user, system_id)
    category = _item(draft, category_id, category=True)
    problems = indicator_problems(spec) + _code_taken(draft, spec.code)
    raise_problems(problems, "the indicator was not added")

    indicator = Indicator(
        system_id=draft.id,
        parent=category,
        kind=category.item_kind or "base",
    )
    fill_indicator(indicator, spec)
    indicator.position = _end(draft)
    session.add(indicator)
    _renumber(session, draft)

    record_change(session, "indicator_added", user, draft, item=spec.code)
    return indicator


def update_indicator(
    session: Session,
    user: User,
    system_id: int,
    indicator_id: int,
    spec: IndicatorSpec,
    category_id: int,
) -> Indicator:
    """Change an indicator; a new category puts it at that category's end."""
    draft = draft_for_change(session, user, system_id)
    indicator = _item(draft, indicator_id, category=False)
    category = _item(draft, category_id, category=True)
    problems = indicator_problems(spec) + _code_taken(draft, spec.code, indicator)
    raise_problems(problems, "the indicator was not saved")

    before = indicator.code
    fill_indicator(indicator, spec)
    if indicator.parent_id != category.id:
        indicator.parent = category
        indicator.position = _end(draft)
    indicator.kind = category.item_kind or "base"
    _renumber(session, draft)

    record_change(session, "indicator_changed", user, draft, item=spec.code, was=before)
    return indicator


def delete_item(session: Session, user: User, system_id: int, item_id: int) -> None:
    """Delete an indicator, or a category with all its indicators."""
    draft = draft_for_change(session, user, system_id)
    item = _item(draft, item_id)

    doomed = [*_children(draft, item), item] if item.kind == "category" else [item]
    for indicator in doomed:
        session.delete(indicator)
        # Children go first, so no row points at a deleted parent.
        session.flush()
    _renumber(session, draft)

    record_change(
        session, "item_deleted", user, draft, item=item.code, removed=len(doomed)
    )


def move_item(
    session: Session, user: User, system_id: int, item_id: int, direction: str
) -> None:
    """Move a category among the categories, or an indicator within its category."""
    if direction not in DIRECTIONS:
        raise InvalidInput(
            "move an item up or down", details={"errors": {"direction": direction}}
        )
    draft = draft_for_change(session, user, system_id)
    item = _item(draft, item_id)

    siblings = _siblings(draft, item)
    index = siblings.index(item)
    target = index - 1 if direction == "up" else index + 1
    if 0 <= target < len(siblings):
        neighbour = siblings[target]
        item.position, neighbour.position = neighbour.position, item.position
        _renumber(session, draft)

    record_change(
        session, "item_moved", user, draft, item=item.code, direction=direction
    )


def replace_tree(
    session: Session, user: User, system_id: int, tree: list[CategorySpec]
) -> IndicatorSystem:
    """Replace a draft's whole tree, as an imported workbook does; all or nothing."""
    draft = draft_for_change(session, user, system_id)
    problems = [p for c in tree for p in category_problems(c)]
    problems += [p for c in tree for i in c.indicators for p in indicator_problems(i)]
    problems += duplicate_code_problems(tree)
    raise_problems(problems, "the tree was not replaced")

    clear_tree(session, draft)
    write_tree(session, draft, tree)

    record_change(
        session,
        "imported",
        user,
        draft,
        categories=len(tree),
        indicators=sum(len(c.indicators) for c in tree),
    )
    logger.info(
        "indicator system %s version %s tree replaced",
        draft.code,
        draft.version,
        extra={"system_id": draft.id},
    )
    return draft


def _code_taken(
    draft: IndicatorSystem, code: str, itself: Indicator | None = None
) -> list[Problem]:
    for other in draft.indicators:
        if other.code == code and other is not itself:
            return [
                Problem(
                    N_("another item of this version has the code %(code)s"),
                    {"code": code},
                    code=code,
                    field_name="code",
                )
            ]
    return []


def _item(
    draft: IndicatorSystem, item_id: int, *, category: bool | None = None
) -> Indicator:
    for item in draft.indicators:
        if item.id == item_id and (
            category is None or (item.kind == "category") == category
        ):
            return item
    wanted = {True: "category", False: "indicator", None: "item"}[category]
    raise NotFound(f"{wanted} {item_id} is not part of this version")


def _children(draft: IndicatorSystem, category: Indicator) -> list[Indicator]:
    return [i for i in draft.indicators if i.parent_id == category.id]


def _siblings(draft: IndicatorSystem, item: Indicator) -> list[Indicator]:
    if item.kind == "category":
        return [other for other in _ordered(draft) if other.kind == "category"]
    return [
        other
        for other in _ordered(draft)
        if other.kind != "category" and other.parent_id == item.parent_id
    ]


def _ordered(draft: IndicatorSystem) -> list[Indicator]:
    return sorted(draft.indicators, key=lambda i: (i.position, i.id or 0))


def _end(draft: IndicatorSystem) -> int:
    return max((i.position for i in draft.indicators), default=0) + 1


def _renumber(session: Session, draft: IndicatorSystem) -> None:
    """Number the tree again: each category, then its indicators, in order."""
    session.flush()
    session.expire(draft, ["indicators"])
    ordered = _ordered(draft)
    items: dict[int | None, list[Indicator]] = defaultdict(list)
    for indicator in ordered:
        if indicator.kind != "category":
            items[indicator.parent_id].append(indicator)

    position = 0
    for category in (i for i in ordered if i.kind == "category"):
        for indicator in (category, *items.pop(category.id, [])):
            position += 1
            indicator.position = position
    for stray in (i for group in items.values() for i in group):
        position += 1
        stray.position = position
    session.flush()
