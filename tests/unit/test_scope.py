"""Lanes and office-path scope decide who may act on a task."""

from __future__ import annotations

from app.models import HumanTask, Office, Unit, User
from app.services.scope import can_act, managing_office_path, sees_path
from forms.registry import FORM_KEYS
from processes.lint import KNOWN_FORM_KEYS

COUNTY = Office(id=3, level="county", path="/1/2/3/")
OTHER_COUNTY = Office(id=4, level="county", path="/1/2/4/")
CITY = Office(id=2, level="city", path="/1/2/")
UNIT = Unit(id=7, office=COUNTY, path="/1/2/3/u7/")


def reviewer(office: Office, roles=("reviewer",)) -> User:
    """Return an office user with roles."""
    return User(username="r", roles=list(roles), office=office, active=True)


def task(lane: str) -> HumanTask:
    """Return a ready task of the sample unit in a lane."""
    return HumanTask(lane=lane, unit_id=UNIT.id, office_path=UNIT.path, title="t")


def test_level_lanes_follow_the_office_level_and_subtree():
    """County tasks go to county reviewers above the unit, city tasks to the city."""
    assert can_act(reviewer(COUNTY), task("county"))
    assert not can_act(reviewer(OTHER_COUNTY), task("county"))
    assert not can_act(reviewer(CITY), task("county"))
    assert can_act(reviewer(CITY), task("city"))
    assert not can_act(reviewer(COUNTY, roles=("office_admin",)), task("county"))


def test_office_lane_is_the_units_managing_office():
    """The office lane belongs to the managing office, whatever its level."""
    assert managing_office_path(UNIT.path) == COUNTY.path
    assert can_act(reviewer(COUNTY), task("office"))
    assert not can_act(reviewer(CITY), task("office"))


def test_unit_lanes_need_the_unit_and_the_role():
    """Liaisons take the unit lane, leaders the leader lane, of their own unit only."""
    liaison = User(username="l", roles=["liaison"], unit=UNIT, unit_id=7, active=True)
    leader = User(
        username="b", roles=["unit_leader"], unit=UNIT, unit_id=7, active=True
    )
    stranger = User(username="s", roles=["liaison"], unit_id=8, active=True)
    assert can_act(liaison, task("unit")) and not can_act(liaison, task("unit_leader"))
    assert can_act(leader, task("unit_leader")) and not can_act(leader, task("unit"))
    assert not can_act(stranger, task("unit"))


def test_inactive_users_and_unknown_lanes_act_on_nothing():
    """A disabled account, or a lane no rule knows, gives no permission."""
    disabled = reviewer(COUNTY)
    disabled.active = False
    assert not can_act(disabled, task("county"))
    assert not can_act(reviewer(COUNTY), task("janitor"))


def test_scope_is_the_path_prefix():
    """An office sees its subtree; a unit user sees only its unit."""
    assert sees_path(reviewer(CITY), UNIT.path)
    assert not sees_path(reviewer(OTHER_COUNTY), UNIT.path)


def test_lint_knows_exactly_the_registered_forms():
    """Diagram lint accepts the form keys the forms registry serves, no others."""
    assert set(FORM_KEYS) == set(KNOWN_FORM_KEYS)
