"""Indicator system administration: versions, their settings, checks and publishing.

Office administrators keep the systems of their office and its subtree; offices
above are shown read-only. Only a draft changes: a published version stays as it is,
because every cycle keeps the version it was opened with. The tree of a draft is
edited in app.services.indicator_tree.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

from sqlalchemy import func, or_, select, true
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.sql.elements import ColumnElement

from app.models import (
    Cycle,
    IndicatorSystem,
    Office,
    User,
    record_event,
    utcnow,
)
from app.services.indicator_rules import (
    N_,
    SYSTEM_CODE_MAX_CHARS,
    Problem,
    SettingsSpec,
    code_problems,
    publication_problems,
    settings_problems,
)
from app.services.indicator_values import (
    apply_settings,
    clear_tree,
    settings_of,
    tree_of,
    write_tree,
)
from processes.errors import Conflict, Forbidden, InvalidInput, NotFound

logger = logging.getLogger(__name__)


@dataclass
class SystemLine:
    """Every version of one system code that a user sees, newest first."""

    code: str
    versions: list[IndicatorSystem]
    cycles: dict[int, int]

    @property
    def latest(self) -> IndicatorSystem:
        """Return the newest version."""
        return self.versions[0]

    @property
    def draft(self) -> IndicatorSystem | None:
        """Return the version still being edited, if there is one."""
        return next((v for v in self.versions if not v.published), None)


def check_staff(user: User) -> None:
    """Raise Forbidden for unit users: indicator systems are the offices' work."""
    if user.unit_id is not None or user.scope_path is None:
        raise Forbidden(
            "indicator systems are kept by office staff; your tasks are in the inbox"
        )


def can_manage(user: User, office: Office) -> bool:
    """Tell whether the user administers the office or an office above it."""
    if not user.is_active:
        return False
    if user.has_role("admin"):
        return True
    own = user.office
    return (
        user.has_role("office_admin")
        and own is not None
        and office.path.startswith(own.path)
    )


def check_manages(user: User, office: Office) -> None:
    """Raise Forbidden unless the user may change the office's indicator systems."""
    if not can_manage(user, office):
        raise Forbidden(
            f"only an administrator of {office.name} or an office above it may "
            "change its indicator systems"
        )


def managed_offices(session: Session, user: User) -> list[Office]:
    """Return the offices the user may create systems for, top of the tree first."""
    query = select(Office).order_by(Office.path)
    if not user.has_role("admin"):
        if not user.has_role("office_admin") or user.office is None:
            return []
        query = query.where(Office.path.startswith(user.office.path, autoescape=True))
    return list(session.scalars(query))


def _sees(user: User, office: Office) -> bool:
    if user.has_role("admin"):
        return True
    own = user.office
    if own is None:
        return False
    return office.path.startswith(own.path) or own.path.startswith(office.path)


def _visible(user: User) -> ColumnElement[bool]:
    """Return the SQL condition for offices whose systems the user sees."""
    if user.has_role("admin"):
        return true()
    path = user.office.path
    parts = [part for part in path.split("/") if part]
    ancestors = ["/" + "/".join(parts[:n]) + "/" for n in range(1, len(parts))]
    return or_(
        Office.path.startswith(path, autoescape=True), Office.path.in_(ancestors)
    )


def visible_versions(
    session: Session, user: User, code: str | None = None
) -> list[IndicatorSystem]:
    """Return the versions the user sees (of one code if given), newest first."""
    check_staff(user)
    query = (
        select(IndicatorSystem)
        .join(Office, IndicatorSystem.office_id == Office.id)
        .where(_visible(user))
        .options(
            joinedload(IndicatorSystem.office),
            joinedload(IndicatorSystem.created_by),
            joinedload(IndicatorSystem.published_by),
        )
        .order_by(IndicatorSystem.code, IndicatorSystem.version.desc())
    )
    if code is not None:
        query = query.where(IndicatorSystem.code == code)
    return list(session.scalars(query).unique())


def system_lines(session: Session, user: User) -> list[SystemLine]:
    """Return the systems the user sees, grouped by code, with their cycle counts."""
    versions = visible_versions(session, user)
    counts = cycle_counts(session, [v.id for v in versions])
    return [
        SystemLine(code, list(group), counts)
        for code, group in itertools.groupby(versions, key=lambda v: v.code)
    ]


def system_line(session: Session, user: User, code: str) -> SystemLine:
    """Return the versions of one system code that the user sees."""
    versions = visible_versions(session, user, code)
    return SystemLine(code, versions, cycle_counts(session, [v.id for v in versions]))


def cycle_counts(session: Session, system_ids: list[int]) -> dict[int, int]:
    """Return how many cycles use each of the versions."""
    if not system_ids:
        return {}
    query = (
        select(Cycle.indicator_system_id, func.count())
        .where(Cycle.indicator_system_id.in_(system_ids))
        .group_by(Cycle.indicator_system_id)
    )
    return dict(session.execute(query).tuples().all())


def visible_system(session: Session, user: User, system_id: int) -> IndicatorSystem:
    """Return a version the user sees, else raise NotFound."""
    check_staff(user)
    system = session.get(IndicatorSystem, system_id)
    if system is None or not _sees(user, system.office):
        raise NotFound(
            f"indicator system {system_id} does not exist or is outside your office"
        )
    return system


def draft_for_change(session: Session, user: User, system_id: int) -> IndicatorSystem:
    """Return a draft the user may change, locked for this step.

    Raises NotFound outside the user's sight, Forbidden without the right to
    change it, and Conflict once it is published.
    """
    check_staff(user)
    system = session.scalars(
        select(IndicatorSystem)
        .where(IndicatorSystem.id == system_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if system is None or not _sees(user, system.office):
        raise NotFound(
            f"indicator system {system_id} does not exist or is outside your office"
        )
    check_manages(user, system.office)
    if system.published:
        raise Conflict(
            f"version {system.version} of {system.code} is published and never "
            "changes; make a new version to change it"
        )
    return system


def raise_problems(problems: list[Problem], summary: str) -> None:
    """Raise InvalidInput listing the problems, if there are any."""
    if not problems:
        return
    errors: dict[str, str] = {}
    for problem in problems:
        errors.setdefault(problem.field_name or problem.code or "", str(problem))
    listing = "; ".join(str(p) for p in problems)
    raise InvalidInput(
        f"{summary}: {listing}",
        details={"errors": errors, "problems": [p.as_dict() for p in problems]},
    )


def create_system(
    session: Session,
    user: User,
    *,
    code: str,
    office: Office,
    settings: SettingsSpec,
    start_from: IndicatorSystem | None = None,
) -> IndicatorSystem:
    """Create version 1 of a new system as a draft, empty or copied from a version."""
    check_staff(user)
    check_manages(user, office)
    code = code.strip()
    problems = code_problems(code, SYSTEM_CODE_MAX_CHARS) + settings_problems(settings)
    taken = select(IndicatorSystem.id).where(IndicatorSystem.code == code).limit(1)
    if not problems and session.scalar(taken) is not None:
        problems.append(
            Problem(
                N_(
                    "the code %(code)s is taken; choose another, or make a new "
                    "version of that system"
                ),
                {"code": code},
                field_name="code",
            )
        )
    raise_problems(problems, "the indicator system was not created")
    tree = []
    if start_from is not None:
        tree = tree_of(visible_system(session, user, start_from.id))

    system = IndicatorSystem(
        code=code,
        version=1,
        office_id=office.id,
        created_by_id=user.id,
        published=False,
    )
    apply_settings(system, settings)
    session.add(system)
    session.flush()
    write_tree(session, system, tree)

    record_change(
        session,
        "created",
        user,
        system,
        office_id=office.id,
        copied_from=start_from.id if start_from is not None else None,
    )
    logger.info("indicator system %s created", code, extra={"system_id": system.id})
    return system


def new_version(session: Session, user: User, system_id: int) -> IndicatorSystem:
    """Copy the newest version of a system into a draft with the next number."""
    source = visible_system(session, user, system_id)
    latest = session.scalars(
        select(IndicatorSystem)
        .where(IndicatorSystem.code == source.code)
        .order_by(IndicatorSystem.version.desc())
        .limit(1)
    ).one()
    check_manages(user, latest.office)
    if not latest.published:
        raise Conflict(
            f"version {latest.version} of {latest.code} is still a draft; publish "
            "or delete it before making another version"
        )

    draft = IndicatorSystem(
        code=latest.code,
        version=latest.version + 1,
        office_id=latest.office_id,
        grade_thresholds=dict(latest.grade_thresholds or {}),
        created_by_id=user.id,
        published=False,
    )
    apply_settings(draft, settings_of(latest))
    session.add(draft)
    session.flush()
    write_tree(session, draft, tree_of(latest))

    record_change(session, "version_created", user, draft, copied_from=latest.id)
    logger.info(
        "indicator system %s version %s drafted",
        draft.code,
        draft.version,
        extra={"system_id": draft.id},
    )
    return draft


def update_settings(
    session: Session, user: User, system_id: int, settings: SettingsSpec
) -> IndicatorSystem:
    """Change a draft's name, base points, bonus cap, grades and late points."""
    draft = draft_for_change(session, user, system_id)
    raise_problems(settings_problems(settings), "the settings were not saved")

    before = settings_of(draft)
    apply_settings(draft, settings)

    changed = sorted(
        name for name, value in vars(settings).items() if getattr(before, name) != value
    )
    record_change(session, "updated", user, draft, changed=changed)
    return draft


def check_version(system: IndicatorSystem) -> list[Problem]:
    """Return what keeps a version from being published; empty when it may be."""
    return publication_problems(settings_of(system), tree_of(system))


def publish(session: Session, user: User, system_id: int) -> IndicatorSystem:
    """Publish a draft that passes every check, so cycles can use it."""
    draft = draft_for_change(session, user, system_id)
    raise_problems(
        check_version(draft),
        f"version {draft.version} of {draft.code} cannot be published yet",
    )

    draft.published = True
    draft.published_at = utcnow()
    draft.published_by_id = user.id

    record_change(session, "published", user, draft)
    logger.info(
        "indicator system %s version %s published",
        draft.code,
        draft.version,
        extra={"system_id": draft.id},
    )
    return draft


def delete_draft(session: Session, user: User, system_id: int) -> None:
    """Delete a draft with its tree; published versions are never deleted."""
    draft = draft_for_change(session, user, system_id)

    clear_tree(session, draft)
    session.delete(draft)
    session.flush()

    record_change(session, "deleted", user, draft)
    logger.info(
        "indicator system %s version %s deleted",
        draft.code,
        draft.version,
        extra={"system_id": draft.id},
    )


def record_change(
    session: Session, verb: str, user: User, system: IndicatorSystem, **detail
) -> None:
    """Queue the audit event of a change to a version."""
    record_event(
        session,
        f"indicator_system.{verb}",
        actor_id=user.id,
        object_type="indicator_system",
        object_id=system.id,
        code=system.code,
        version=system.version,
        **detail,
    )
