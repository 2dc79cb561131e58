"""Offices, units and users: creating them with their paths and roles."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Office, Unit, User, record_event
from app.models.organisation import OFFICE_LEVELS, ROLES, TITLE_LEVELS
from processes.errors import InvalidInput, NotFound

logger = logging.getLogger(__name__)

PARENT_LEVEL = {"province": None, "city": "province", "county": "city"}


def create_office(
    session: Session, *, name: str, code: str, level: str, parent: Office | None = None
) -> Office:
    """Add an office under its parent and give it its materialized path."""
    if level not in OFFICE_LEVELS:
        raise InvalidInput(f"office level must be one of {', '.join(OFFICE_LEVELS)}")
    expected_parent = PARENT_LEVEL[level]
    if (parent.level if parent else None) != expected_parent:
        raise InvalidInput(
            f"a {level} office must sit under a {expected_parent or 'no'} office"
        )
    office = Office(name=name, code=code, level=level, parent=parent)
    session.add(office)
    session.flush()
    office.path = f"{parent.path if parent else '/'}{office.id}/"
    return office


def create_unit(
    session: Session,
    *,
    name: str,
    code: str,
    unit_type: str,
    office: Office,
    target_level: str = "county",
    title_level: str | None = None,
    title_status: str = "none",
    needs_leader_signoff: bool = False,
) -> Unit:
    """Add a unit under its managing office and give it its path."""
    if target_level not in TITLE_LEVELS:
        raise InvalidInput(
            f"target title level must be one of {', '.join(TITLE_LEVELS)}"
        )
    unit = Unit(
        name=name,
        code=code,
        unit_type=unit_type,
        office=office,
        target_level=target_level,
        title_level=title_level,
        title_status=title_status,
        needs_leader_signoff=needs_leader_signoff,
    )
    session.add(unit)
    session.flush()
    unit.path = f"{office.path}u{unit.id}/"
    return unit


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    display_name: str,
    roles: list[str],
    office: Office | None = None,
    unit: Unit | None = None,
    email: str | None = None,
    actor_id: int | None = None,
) -> User:
    """Add a user with a hashed password, checking roles against office or unit."""
    _check_user(session, username, password, roles, office, unit)
    user = User(
        username=username,
        display_name=display_name,
        roles=sorted(set(roles)),
        office=office,
        unit=unit,
        email=email,
    )
    user.set_password(password)
    session.add(user)
    session.flush()
    record_event(
        session,
        "user.created",
        actor_id=actor_id,
        object_type="user",
        object_id=user.id,
        username=username,
        roles=user.roles,
    )
    return user


def _check_user(session, username, password, roles, office, unit) -> None:
    errors = {}
    if not username or len(username) > 80:
        errors["username"] = "give a user name of 1 to 80 characters"
    elif session.scalar(select(User.id).where(User.username == username)):
        errors["username"] = f"the user name {username!r} is taken"
    if len(password or "") < 8:
        errors["password"] = "the password needs at least 8 characters"
    unknown = sorted(set(roles) - set(ROLES))
    if not roles or unknown:
        errors["roles"] = f"roles must be chosen from {', '.join(ROLES)}"
    unit_roles = {"liaison", "unit_leader"} & set(roles)
    if unit_roles and unit is None:
        errors["unit"] = "liaisons and unit leaders need a unit"
    if {"reviewer", "office_admin"} & set(roles) and office is None:
        errors["office"] = "reviewers and office administrators need an office"
    if office is not None and unit is not None:
        errors["office"] = "a user belongs to an office or to a unit, not both"
    if errors:
        raise InvalidInput(
            "the user cannot be created: " + "; ".join(errors.values()),
            details={"errors": errors},
        )


def office_by_code(session: Session, code: str) -> Office:
    """Return the office with this code or raise NotFound."""
    office = session.scalars(select(Office).where(Office.code == code)).first()
    if office is None:
        raise NotFound(f"no office has the code {code!r}")
    return office


def unit_by_code(session: Session, code: str) -> Unit:
    """Return the unit with this code or raise NotFound."""
    unit = session.scalars(select(Unit).where(Unit.code == code)).first()
    if unit is None:
        raise NotFound(f"no unit has the code {code!r}")
    return unit


def review_levels(unit: Unit) -> list[str]:
    """Return the office levels that review a unit, from its target title level."""
    if unit.office.level != "county":
        raise InvalidInput(
            f"unit {unit.name} is managed by a {unit.office.level} office; the "
            "creation task starts its review at county level, so such units "
            "cannot be issued a creation task yet"
        )
    depth = {"county": 1, "city": 2, "province": 3, "national": 3}[unit.target_level]
    return ["county", "city", "province"][:depth]
