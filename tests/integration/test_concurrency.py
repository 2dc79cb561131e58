"""Two reviewers at once: exactly one completes, the other gets Conflict."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import HumanTask, ProcessInstance, Review, User
from app.services import tasks
from processes.errors import Conflict
from tests.factories import review_data, submit, task_for

RACES = 15


def complete_in_thread(app, user_id, task_id, data, barrier, outcomes) -> None:
    """Complete a task in a session of its own, recording the outcome."""
    with app.app_context():
        session = Session(db.engine)
        try:
            user = session.get(User, user_id)
            barrier.wait(timeout=10)
            tasks.complete(session, user, task_id, data)
            outcomes.append("ok")
        except Conflict as error:
            outcomes.append(f"conflict: {error.message}")
        except Exception as error:  # reported by the assertion below
            outcomes.append(f"error: {error!r}")
        finally:
            session.close()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_reviewers_completing_the_same_task(app, session, world):
    """Race two reviewers many times: one wins, one gets Conflict, state is sound."""
    cycle = _cycle_for_extra_units(session, world, RACES)
    reviewers = [world.users["county"].id, world.users["county_b"].id]
    for number in range(RACES):
        submit(session, world, f"race{number}", cycle=cycle)

    for number in range(RACES):
        task = task_for(session, world.users["county"], f"race{number}")
        _race(app, task, reviewers, world)
        session.expire_all()
        _assert_consistent(session, task)


def _cycle_for_extra_units(session, world, count: int):
    from app.services import cycles, organisation
    from app.services.base import transaction
    from tests.factories import PASSWORD, make_cycle

    with transaction(session):
        county = world.offices["X01"]
        for number in range(count):
            code = f"race{number}"
            world.units[code] = organisation.create_unit(
                session,
                name=f"并发测试单位{number}",
                code=code,
                unit_type="school",
                office=county,
            )
            world.users[code] = organisation.create_user(
                session,
                username=code,
                password=PASSWORD,
                display_name=code,
                roles=["liaison"],
                unit=world.units[code],
            )
        cycle = make_cycle(session, county, world.system, name="并发测试")
    cycles.issue_cycle(session, cycle)
    return cycle


def _race(app, task, reviewers, world) -> None:
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    data = review_data(world.system, "rectify")
    threads = [
        threading.Thread(
            target=complete_in_thread,
            args=(app, user_id, task.id, data, barrier, outcomes),
        )
        for user_id in reviewers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(o.split(":")[0] for o in outcomes) == ["conflict", "ok"], outcomes


def _assert_consistent(session, task) -> None:
    reviews = session.scalar(
        select(func.count())
        .select_from(Review)
        .where(Review.instance_id == task.instance_id, Review.round == task.round)
    )
    assert reviews == 1
    instance = session.get(ProcessInstance, task.instance_id)
    ready = session.scalars(
        select(HumanTask).where(
            HumanTask.instance_id == instance.id, HumanTask.state == "ready"
        )
    ).all()
    assert [t.bpmn_id for t in ready] == ["rectify"]
    done = session.get(HumanTask, task.id)
    assert done.state == "completed"
