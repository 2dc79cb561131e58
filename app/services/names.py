"""Names of units and cycles for messages, looked up once per session.

A step that notifies many people, or a scheduler job that fires thousands of
reminders, needs the same few names again and again; they are kept in the
session's info for as long as the session lives (one request or one job run).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Cycle, Unit

CACHE_KEY = "wenming.names"


def unit_name(session: Session, unit_id: int | None) -> str:
    """Return a unit's name, or "" for none."""
    return _name(session, Unit, unit_id)


def cycle_name(session: Session, cycle_id: int | None) -> str:
    """Return a cycle's name, or "" for none."""
    return _name(session, Cycle, cycle_id)


def prefetch_units(session: Session, unit_ids: Iterable[int | None]) -> None:
    """Look up the names of many units with one query, for the messages to come."""
    names = session.info.setdefault(CACHE_KEY, {})
    missing = {
        unit_id
        for unit_id in unit_ids
        if unit_id is not None and (Unit.__tablename__, unit_id) not in names
    }
    if not missing:
        return
    for unit_id in missing:
        names[(Unit.__tablename__, unit_id)] = ""
    rows = session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(missing)))
    for unit_id, name in rows:
        names[(Unit.__tablename__, unit_id)] = name


def _name(session: Session, model: type, row_id: int | None) -> str:
    if row_id is None:
        return ""
    names = session.info.setdefault(CACHE_KEY, {})
    key = (model.__tablename__, row_id)
    if key not in names:
        found = session.scalar(select(model.name).where(model.id == row_id))
        names[key] = found or ""
    return names[key]
