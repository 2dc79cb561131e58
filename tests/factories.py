"""Small factories for test data: the sample organisation, cycles and task steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from flask import g
from sqlalchemy import select

from app.models import HumanTask, IndicatorSystem, Office, Unit, User, utcnow
from app.services import cycles, demo, indicators, organisation, tasks
from app.services.base import transaction
from app.services.demo_data import INDICATOR_SYSTEM, OFFICE_USERS, OFFICES, UNITS
from forms.registry import FORM_KEYS
from processes import registry
from processes.lint import KNOWN_LANES

PASSWORD = "test-password"
SHIPPED = Path(__file__).resolve().parent.parent / "bpmn_diagrams"


@dataclass
class World:
    """The sample organisation with one open cycle, as tests see it."""

    upload_folder: Path
    offices: dict[str, Office] = field(default_factory=dict)
    units: dict[str, Unit] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    system: IndicatorSystem | None = None
    cycle: object = None


def deploy_shipped(session) -> None:
    """Deploy the shipped diagrams in dependency order."""
    for path in registry.deployment_order(sorted(SHIPPED.glob("*.bpmn"))):
        with transaction(session):
            registry.deploy(
                session,
                path.read_bytes(),
                filename=path.name,
                form_keys=FORM_KEYS,
                lanes=KNOWN_LANES,
            )


def build_world(session, upload_folder: Path, *, issue: bool = True) -> World:
    """Create offices, units, users, the indicator system and an issued cycle."""
    deploy_shipped(session)
    world = World(upload_folder=upload_folder)
    with transaction(session):
        for code, name, level, parent in OFFICES:
            world.offices[code] = organisation.create_office(
                session,
                name=name,
                code=code,
                level=level,
                parent=world.offices.get(parent),
            )
        world.offices["Y01"] = organisation.create_office(
            session,
            name="另一县文明办",
            code="Y01",
            level="county",
            parent=world.offices["C01"],
        )
        for code, name, unit_type, target, held, status in UNITS:
            world.units[code] = organisation.create_unit(
                session,
                name=name,
                code=code,
                unit_type=unit_type,
                office=world.offices["X01"],
                target_level=target,
                title_level=held,
                title_status=status,
            )
        world.units["otherschool"] = organisation.create_unit(
            session,
            name="另一县中学",
            code="otherschool",
            unit_type="school",
            office=world.offices["Y01"],
        )
        _users(session, world)
        world.system = indicators.create_system(
            session, office=world.offices["P01"], **INDICATOR_SYSTEM
        )
        world.cycle = make_cycle(session, world.offices["C01"], world.system)
    if issue:
        cycles.issue_cycle(session, world.cycle)
    return world


def _users(session, world: World) -> None:
    def add(username, roles, office=None, unit=None):
        world.users[username] = organisation.create_user(
            session,
            username=username,
            password=PASSWORD,
            display_name=username,
            roles=roles,
            office=office,
            unit=unit,
        )

    add("admin", ["admin"])
    for username, _, office_code in OFFICE_USERS:
        add(username, ["reviewer", "office_admin"], office=world.offices[office_code])
    add("county2", ["reviewer"], office=world.offices["Y01"])
    add("county_b", ["reviewer"], office=world.offices["X01"])
    for code in world.units:
        add(code, ["liaison"], unit=world.units[code])
    add("hospital_leader", ["unit_leader"], unit=world.units["hospital"])


def make_cycle(session, office: Office, system: IndicatorSystem, name="2026年度"):
    """Open a cycle with deadlines two to six weeks ahead."""
    return demo.open_cycle_ahead(session, office, system, name)


def task_for(session, user: User, unit_code: str | None = None) -> HumanTask:
    """Return the ready task the user may act on for the unit (the first if None)."""
    for task in tasks.actionable_tasks(session, user):
        if unit_code is None or task.unit.code == unit_code:
            return task
    raise AssertionError(f"no task waits for {user.username} on {unit_code}")


def ready_tasks(session, unit: Unit) -> list[HumanTask]:
    """Return the unit's ready human tasks."""
    query = (
        select(HumanTask)
        .where(HumanTask.unit_id == unit.id, HumanTask.state == "ready")
        .order_by(HumanTask.id)
    )
    return list(session.scalars(query))


def submit(session, world: World, unit_code: str, cycle=None) -> None:
    """Have the unit's liaison fill in and submit its creation task of a cycle."""
    cycle = cycle or world.cycle
    task = next(
        t
        for t in ready_tasks(session, world.units[unit_code])
        if t.cycle_id == cycle.id and t.form_key == "unit_submission"
    )
    demo.submit_complete(session, world.users[unit_code], world.upload_folder, task)


def review_data(system: IndicatorSystem, decision: str, **extra) -> dict:
    """Return review form data scoring every base indicator one below full points."""
    return {**demo.review_data(system, decision), **extra}


def review(
    session, world: World, reviewer: str, unit_code: str, decision: str, **extra
):
    """Have a reviewer decide on a unit's waiting review task."""
    task = task_for(session, world.users[reviewer], unit_code)
    data = review_data(world.system, decision, **extra)
    return tasks.complete(session, world.users[reviewer], task.id, data)


def rectify(session, world: World, unit_code: str):
    """Have the unit answer every item of its rectification order."""
    from app.services.rectification import open_order

    task = task_for(session, world.users[unit_code], unit_code)
    order = open_order(session, task.instance_id)
    data = {"responses": {str(item.id): "已整改，补充了照片" for item in order.items}}
    return tasks.complete(session, world.users[unit_code], task.id, data)


def verify(session, world: World, reviewer: str, unit_code: str, decision: str):
    """Have the ordering level verify a rectification."""
    task = task_for(session, world.users[reviewer], unit_code)
    data = {"decision": decision, "opinion": "复核意见"}
    if decision == "redo":
        data["rectification_due"] = (utcnow() + timedelta(days=7)).isoformat()
    return tasks.complete(session, world.users[reviewer], task.id, data)


def anonymous_client(app):
    """Return a test client of a visitor, forgetting who the test last signed in."""
    g.pop("_login_user", None)
    return app.test_client()


def sign_in(app, username: str, password: str = PASSWORD):
    """Return a test client signed in through the form, pages in English."""
    client = anonymous_client(app)
    response = client.post(
        "/auth/login?lang=en", data={"username": username, "password": password}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return client
