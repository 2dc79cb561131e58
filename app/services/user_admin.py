"""Administering user accounts: roles, scope, passwords and deactivation.

Office staff belong to an office, liaisons and unit leaders to a unit. Only a
system administrator grants the administrator role or touches an account that
holds it, and nobody deactivates their own account or drops their own
administrator role.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, joinedload

from app.models import HumanTask, Office, Unit, User, record_event
from app.models.organisation import ROLES
from app.services import organisation
from app.services.organisation_admin import (
    Problems,
    admin_scope,
    apply_changes,
    is_system_admin,
    managed_office,
    offices_by_code,
    read_text,
)
from app.services.unit_admin import get_unit
from processes.errors import Forbidden, InvalidInput, NotFound

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
USERNAME_MAX_CHARS = 80
DISPLAY_NAME_MAX_CHARS = 120
EMAIL_MAX_CHARS = 255
MAX_SEARCH_CHARS = 60
OFFICE_ROLES = ("admin", "office_admin", "reviewer")
UNIT_ROLES = ("liaison", "unit_leader")
ADMIN_ROLES = ("admin", "office_admin")
PASSWORD_MIN_CHARS = 12
PASSWORD_GROUPS = 4
PASSWORD_GROUP_CHARS = 4
# Letters and digits that cannot be mistaken for one another when read aloud.
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class UserFilters:
    """What the users list is narrowed to."""

    office_id: int | None = None
    unit_id: int | None = None
    search: str = ""
    page: int = 1


@dataclass
class UserPage:
    """One page of the users list."""

    users: list[User]
    total: int
    page: int
    pages: int
    office: Office | None
    unit: Unit | None
    filters: UserFilters


def read_filters(args: Mapping[str, str]) -> UserFilters:
    """Read the users list filters from a query string."""
    raw_office = (args.get("office") or "").strip()
    raw_unit = (args.get("unit") or "").strip()
    raw_page = (args.get("page") or "1").strip()
    return UserFilters(
        office_id=int(raw_office) if raw_office.isdigit() else None,
        unit_id=int(raw_unit) if raw_unit.isdigit() else None,
        search=(args.get("q") or "").strip()[:MAX_SEARCH_CHARS],
        page=int(raw_page) if raw_page.isdigit() and int(raw_page) > 0 else 1,
    )


def list_users(session: Session, actor: User, filters: UserFilters) -> UserPage:
    """Return one page of the accounts of the subtree, of an office or a unit."""
    scope = admin_scope(actor)
    query = (
        select(User)
        .outerjoin(Office, Office.id == User.office_id)
        .outerjoin(Unit, Unit.id == User.unit_id)
    )
    if scope != "/":
        query = query.where(_within(scope))
    office = unit = None
    if filters.unit_id is not None:
        unit = get_unit(session, actor, filters.unit_id)
        query = query.where(User.unit_id == unit.id)
    elif filters.office_id is not None:
        office = managed_office(session, actor, filters.office_id)
        query = query.where(_within(office.path))
    if filters.search:
        pattern = f"%{_escape_like(filters.search)}%"
        query = query.where(
            or_(
                User.username.ilike(pattern, escape="\\"),
                User.display_name.ilike(pattern, escape="\\"),
                User.email.ilike(pattern, escape="\\"),
            )
        )

    total = session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(filters.page, pages)
    users = session.scalars(
        query.options(joinedload(User.office), joinedload(User.unit))
        .order_by(User.username)
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    return UserPage(list(users), total, page, pages, office, unit, filters)


def _within(path: str):
    return or_(
        Office.path.startswith(path, autoescape=True),
        Unit.path.startswith(path, autoescape=True),
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def get_user(session: Session, actor: User, user_id: int) -> User:
    """Return an account of the actor's subtree, else raise NotFound."""
    scope = admin_scope(actor)
    user = session.get(User, user_id)
    path = user.scope_path if user is not None else None
    if path is None or not path.startswith(scope):
        raise NotFound(f"user {user_id} does not exist or is outside your scope")
    return user


def may_manage(actor: User, user: User) -> bool:
    """Tell whether the actor may change the account (an admin's needs an admin)."""
    return is_system_admin(actor) or not user.has_role("admin")


def _managed_user(session: Session, actor: User, user_id: int) -> User:
    user = get_user(session, actor, user_id)
    if not may_manage(actor, user):
        raise Forbidden(
            "only a system administrator changes the account of a system administrator",
            details={"kind": "admin_account"},
        )
    return user


def create_user(
    session: Session, actor: User, raw: Mapping[str, object]
) -> tuple[User, str]:
    """Add an account with a generated password; return it and the password."""
    problems = Problems()
    username = read_text(problems, "username", raw.get("username"), USERNAME_MAX_CHARS)
    if username and re.search(r"\s", username):
        problems.report("username", "no_spaces", "a user name has no spaces")
    elif username and session.scalar(select(User.id).where(User.username == username)):
        problems.report(
            "username",
            "username_taken",
            f"the user name {username} is taken",
            value=username,
        )
    values = _read_account(session, actor, problems, raw, None)
    problems.raise_if_any("the user cannot be created")

    password = generate_password()
    user = organisation.create_user(
        session,
        username=username,
        password=password,
        display_name=values["display_name"],
        roles=values["roles"],
        office=values["office"],
        unit=values["unit"],
        email=values["email"],
        actor_id=actor.id,
    )
    logger.info("user %s created", username, extra={"user_id": user.id})
    return user, password


def update_user(
    session: Session, actor: User, user_id: int, raw: Mapping[str, object]
) -> User:
    """Change an account's name, e-mail address, roles and office or unit."""
    user = _managed_user(session, actor, user_id)
    problems = Problems()
    values = _read_account(session, actor, problems, raw, user)
    problems.raise_if_any("the user cannot be saved")

    office, unit = values.pop("office"), values.pop("unit")
    changes = apply_changes(user, values)
    for name, new in (("office", office), ("unit", unit)):
        old = getattr(user, name)
        if old is not new:
            changes[f"{name}_code"] = [
                old.code if old else None,
                new.code if new else None,
            ]
            setattr(user, name, new)
    if changes:
        record_event(
            session,
            "user.updated",
            actor_id=actor.id,
            object_type="user",
            object_id=user.id,
            changes=changes,
        )
    return user


def _read_account(
    session: Session,
    actor: User,
    problems: Problems,
    raw: Mapping[str, object],
    user: User | None,
) -> dict:
    """Check the display name, e-mail address, roles and scope of an account."""
    display_name = read_text(
        problems, "display_name", raw.get("display_name"), DISPLAY_NAME_MAX_CHARS
    )
    email = str(raw.get("email") or "").strip() or None
    if email and (len(email) > EMAIL_MAX_CHARS or not EMAIL_PATTERN.match(email)):
        problems.report(
            "email", "email", f"{email} is not an e-mail address", value=email
        )
    roles = sorted({str(role) for role in raw.get("roles") or []})
    office = _office(session, actor, problems, raw.get("office_code"))
    unit = _unit(session, actor, problems, raw.get("unit_code"))
    _check_roles(problems, actor, roles, office, unit, user)
    return {
        "display_name": display_name,
        "email": email,
        "roles": roles,
        "office": office,
        "unit": unit,
    }


def _office(session, actor, problems, raw_code) -> Office | None:
    code = str(raw_code or "").strip()
    if not code:
        return None
    office = offices_by_code(session, actor).get(code)
    if office is None:
        problems.report(
            "office_code",
            "office_unknown",
            f"no office of your area has the code {code}",
            value=code,
        )
    return office


def _unit(session, actor, problems, raw_code) -> Unit | None:
    code = str(raw_code or "").strip()
    if not code:
        return None
    unit = session.scalar(select(Unit).where(Unit.code == code))
    if unit is None or not unit.path.startswith(admin_scope(actor)):
        problems.report(
            "unit_code",
            "unit_unknown",
            f"no unit of your area has the code {code}",
            value=code,
        )
        return None
    return unit


def _check_roles(
    problems: Problems,
    actor: User,
    roles: list[str],
    office: Office | None,
    unit: Unit | None,
    user: User | None,
) -> None:
    """Check that the roles fit the office or unit, and the actor may grant them."""
    unknown = sorted(set(roles) - set(ROLES))
    if not roles or unknown:
        problems.report(
            "roles", "roles", f"choose roles from {', '.join(ROLES)}", value=unknown
        )
        return
    held = set(user.roles or []) if user is not None else set()
    if "admin" in roles and "admin" not in held and not is_system_admin(actor):
        problems.report(
            "roles",
            "admin_grant",
            "only a system administrator grants the administrator role",
        )
    if user is not None and user.id == actor.id:
        _check_own(problems, user, roles, office, unit)
    office_side = set(roles) & set(OFFICE_ROLES)
    unit_side = set(roles) & set(UNIT_ROLES)
    if office_side and unit_side:
        problems.report(
            "roles",
            "mixed_roles",
            "office roles and unit roles do not go together; a user works "
            "for an office or for a unit",
        )
    elif unit_side and unit is None:
        problems.report(
            "unit_code", "unit_needed", "liaisons and unit leaders need a unit"
        )
    elif office_side - {"admin"} and office is None:
        problems.report(
            "office_code",
            "office_needed",
            "reviewers and office administrators need an office",
        )
    if office is not None and unit is not None:
        problems.report(
            "unit_code",
            "scope_both",
            "a user belongs to an office or to a unit, not both",
        )


def _check_own(problems, user, roles, office, unit) -> None:
    """Keep people from locking themselves out of administration."""
    dropped = [role for role in ADMIN_ROLES if role in user.roles and role not in roles]
    if dropped:
        problems.report(
            "roles",
            "own_admin",
            "you cannot remove your own administrator role; ask another administrator",
        )
    if office is not user.office or unit is not user.unit:
        problems.report(
            "office_code",
            "own_scope",
            "you cannot move your own account; ask an administrator above you",
        )


def generate_password() -> str:
    """Return a random password in groups of four, easy to read out and type."""
    groups = (
        "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_GROUP_CHARS))
        for _ in range(PASSWORD_GROUPS)
    )
    return "-".join(groups)


def reset_password(session: Session, actor: User, user_id: int) -> str:
    """Give an account a new generated password and return it, to be shown once.

    The password is generated rather than typed by the administrator: it is
    always long and random, the administrator never has to invent (or reuse)
    one, and it is never stored anywhere but as a hash. The page shows it once;
    the administrator passes it on, and the old password stops working at once.
    """
    user = _managed_user(session, actor, user_id)
    password = generate_password()
    set_password(user, password)

    record_event(
        session,
        "user.password_reset",
        actor_id=actor.id,
        object_type="user",
        object_id=user.id,
        username=user.username,
    )
    logger.info("password of user %s reset", user.username, extra={"user_id": user.id})
    return password


def set_password(user: User, password: str) -> None:
    """Store a new password of at least the minimum length as a hash."""
    if len(password) < PASSWORD_MIN_CHARS:
        raise InvalidInput(
            f"a password needs at least {PASSWORD_MIN_CHARS} characters",
            details={"kind": "password_short", "limit": PASSWORD_MIN_CHARS},
        )
    user.set_password(password)


def set_active(session: Session, actor: User, user_id: int, active: bool) -> User:
    """Deactivate an account (it can no longer sign in) or reactivate it.

    Ready tasks the account had claimed go back to their lane, so that no work
    waits for someone who cannot sign in.
    """
    user = _managed_user(session, actor, user_id)
    if user.id == actor.id and not active:
        raise Forbidden(
            "you cannot deactivate your own account",
            details={"kind": "self_deactivate"},
        )
    if user.active == active:
        return user

    user.active = active
    released = 0
    if not active:
        released = session.execute(
            update(HumanTask)
            .where(HumanTask.claimed_by_id == user.id, HumanTask.state == "ready")
            .values(claimed_by_id=None, claimed_at=None),
            execution_options={"synchronize_session": False},
        ).rowcount
    record_event(
        session,
        "user.reactivated" if active else "user.deactivated",
        actor_id=actor.id,
        object_type="user",
        object_id=user.id,
        username=user.username,
        released_tasks=released,
    )
    logger.info(
        "user %s %s",
        user.username,
        "reactivated" if active else "deactivated",
        extra={"user_id": user.id},
    )
    return user
