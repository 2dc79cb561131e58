"""Saved inbox views, and the choices the inbox offers for filtering and assigning."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Cycle, HumanTask, Office, SavedFilter, Unit, User
from app.services import scope
from app.services.base import transaction
from app.services.fields import FieldErrors
from app.services.inbox import InboxQuery
from processes.errors import InvalidInput, NotFound

logger = logging.getLogger(__name__)

MAX_NAME_CHARS = 80
MAX_QUERY_CHARS = 1000
KEPT_PARAMETERS = ("cycle_id", "level", "office_id", "unit_type", "due", "q", "sort")


@dataclass(frozen=True)
class FilterChoices:
    """What the inbox filter form may offer a user: cycles, offices, unit types."""

    cycles: list[Cycle]
    offices: list[Office]
    unit_types: list[str]


def list_filters(session: Session, user: User) -> list[SavedFilter]:
    """Return the user's saved inbox views by name."""
    query = (
        select(SavedFilter)
        .where(SavedFilter.user_id == user.id)
        .order_by(SavedFilter.name, SavedFilter.id)
    )
    return list(session.scalars(query))


def normalized_query(query_string: str) -> str:
    """Keep only the filter and sort parameters of an inbox query string."""
    pairs = [
        (name, value.strip())
        for name, value in parse_qsl(query_string or "", keep_blank_values=False)
        if name in KEPT_PARAMETERS and value.strip()
    ]
    return urlencode(pairs)


def save_filter(
    session: Session, user: User, name: str, query_string: str
) -> SavedFilter:
    """Save the view under a name; a view of the same name is replaced."""
    name = (name or "").strip()
    query = normalized_query(query_string)
    _check(name, query)

    with transaction(session):
        saved = session.scalars(
            select(SavedFilter).where(
                SavedFilter.user_id == user.id, SavedFilter.name == name
            )
        ).first()
        if saved is None:
            saved = SavedFilter(user_id=user.id, name=name, query=query)
            session.add(saved)
        else:
            saved.query = query
    logger.info("inbox view %r saved", name, extra={"user_id": user.id})
    return saved


def delete_filter(session: Session, user: User, filter_id: int) -> str:
    """Delete one of the user's saved views and return its name."""
    with transaction(session):
        saved = session.get(SavedFilter, filter_id)
        if saved is None or saved.user_id != user.id:
            raise NotFound(f"saved view {filter_id} does not exist")
        name = saved.name
        session.delete(saved)
    return name


def filter_choices(session: Session, user: User) -> FilterChoices:
    """Return the cycles, sub-offices and unit types within the user's scope."""
    path = user.scope_path
    if path is None:
        return FilterChoices(cycles=[], offices=[], unit_types=[])

    office_ids = select(Office.id).where(Office.path.startswith(path, autoescape=True))
    ancestors = _ancestor_paths(path)
    cycles = session.scalars(
        select(Cycle)
        .join(Office, Office.id == Cycle.office_id)
        .where(Office.path.in_(ancestors) | Cycle.office_id.in_(office_ids))
        .order_by(Cycle.id.desc())
    )
    offices = session.scalars(
        select(Office).where(Office.id.in_(office_ids)).order_by(Office.path)
    )
    unit_types = session.scalars(
        select(Unit.unit_type)
        .where(Unit.path.startswith(path, autoescape=True))
        .distinct()
        .order_by(Unit.unit_type)
    )
    return FilterChoices(
        cycles=list(cycles), offices=list(offices), unit_types=list(unit_types)
    )


def assignable_reviewers(
    session: Session, admin: User, tasks: Iterable[HumanTask]
) -> dict[int, list[User]]:
    """Return, per task, the active reviewers in the admin's scope who can act."""
    tasks = list(tasks)
    if not tasks or admin.office is None or not admin.has_role("office_admin"):
        return {}
    people = [
        user
        for user in session.scalars(
            select(User)
            .join(Office, Office.id == User.office_id)
            .where(Office.path.startswith(admin.office.path, autoescape=True))
            .where(User.active.is_(True))
            .order_by(User.display_name, User.id)
        )
        if user.has_role("reviewer")
    ]
    return {
        task.id: [user for user in people if scope.can_act(user, task)]
        for task in tasks
    }


def _check(name: str, query: str) -> None:
    errors = FieldErrors()
    if not name:
        errors.add("name", "enter a name for the view")
    elif len(name) > MAX_NAME_CHARS:
        errors.add("name", f"at most {MAX_NAME_CHARS} characters (now {len(name)})")
    if len(query) > MAX_QUERY_CHARS:
        errors.add("query", f"the view's filters are longer than {MAX_QUERY_CHARS}")
    else:
        try:
            InboxQuery.from_args(dict(parse_qsl(query)))
        except InvalidInput as error:
            errors.add("query", str(error))
    errors.raise_if_any("the view cannot be saved")


def _ancestor_paths(path: str) -> list[str]:
    segments = path.strip("/").split("/")
    return [
        "/" + "/".join(segments[: depth + 1]) + "/" for depth in range(len(segments))
    ]
