"""Who may see and act on what: lanes and the office-path scope."""

from __future__ import annotations

from sqlalchemy import and_, false, or_
from sqlalchemy.sql.elements import ColumnElement

from app.models import HumanTask, User
from processes.errors import Forbidden, NotFound

LEVEL_LANES = ("county", "city", "province")


def managing_office_path(unit_path: str) -> str:
    """Return the path of the office that manages the unit with this path."""
    return unit_path.rstrip("/").rsplit("/", 1)[0] + "/"


def sees_path(user: User, path: str) -> bool:
    """Tell whether the path lies in the user's own office or unit subtree."""
    scope = user.scope_path
    return scope is not None and path.startswith(scope)


def can_act(user: User, task: HumanTask) -> bool:
    """Tell whether the user works the task's lane for the task's unit."""
    if not user.is_active:
        return False
    if task.lane == "unit":
        return user.has_role("liaison") and user.unit_id == task.unit_id
    if task.lane == "unit_leader":
        return user.has_role("unit_leader") and user.unit_id == task.unit_id
    office = user.office
    if office is None or not user.has_role("reviewer"):
        return False
    if task.lane in LEVEL_LANES:
        return office.level == task.lane and task.office_path.startswith(office.path)
    if task.lane == "office":
        return managing_office_path(task.office_path) == office.path
    return False


def check_can_act(user: User, task: HumanTask) -> None:
    """Raise NotFound outside the user's scope and Forbidden outside their lane."""
    if not sees_path(user, task.office_path):
        raise NotFound(f"task {task.id} does not exist or is outside your scope")
    if not can_act(user, task):
        raise Forbidden(
            f"task “{task.title}” belongs to the {task.lane} lane; "
            "you cannot act on it with your role and office"
        )


def actionable_filter(user: User) -> ColumnElement[bool]:
    """Return the SQL condition for tasks the user may act on, claimed or not."""
    if user.unit_id is not None:
        lanes = [
            lane
            for lane, role in (("unit", "liaison"), ("unit_leader", "unit_leader"))
            if user.has_role(role)
        ]
        return and_(HumanTask.unit_id == user.unit_id, HumanTask.lane.in_(lanes))
    office = user.office
    if office is None or not user.has_role("reviewer"):
        return false()
    in_subtree = HumanTask.office_path.startswith(office.path, autoescape=True)
    managed_here = HumanTask.office_path.startswith(office.path + "u", autoescape=True)
    return or_(
        and_(HumanTask.lane == office.level, in_subtree),
        and_(HumanTask.lane == "office", managed_here),
    )
