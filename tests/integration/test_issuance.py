"""Issuing a cycle: once per unit, in batches, resuming after an interruption."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.models import HumanTask, ProcessInstance
from app.services import cycles
from app.services.base import transaction
from tests.factories import build_world, make_cycle


class Interrupted(Exception):
    """Stands for a process killed half-way through an issuance."""


def instance_count(session, cycle) -> int:
    """Count the instances of a cycle."""
    return session.scalar(
        select(func.count())
        .select_from(ProcessInstance)
        .where(ProcessInstance.cycle_id == cycle.id)
    )


def test_issuing_twice_issues_once(session, world):
    """A second issuance of the same cycle adds nothing."""
    report = cycles.issue_cycle(session, world.cycle)
    assert (report.issued, report.already_issued) == (0, len(world.units))
    assert instance_count(session, world.cycle) == len(world.units)


def test_interrupted_issuance_resumes_without_duplicates(session, app):
    """Batches committed before a crash stay; a rerun issues only the rest."""
    world = build_world(session, app.config["WENMING_UPLOAD_FOLDER"], issue=False)

    def crash_after_first_batch(done: int, total: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        cycles.issue_cycle(
            session, world.cycle, batch_size=3, progress=crash_after_first_batch
        )
    assert instance_count(session, world.cycle) == 3

    report = cycles.issue_cycle(session, world.cycle, batch_size=3)
    assert (report.issued, report.already_issued) == (len(world.units) - 3, 3)
    assert instance_count(session, world.cycle) == len(world.units)
    tasks = session.scalar(
        select(func.count())
        .select_from(HumanTask)
        .where(HumanTask.cycle_id == world.cycle.id)
    )
    assert tasks == len(world.units)


def test_cycle_scope_is_the_office_subtree(session, world):
    """A county cycle reaches only that county's units."""
    with transaction(session):
        cycle = make_cycle(session, world.offices["Y01"], world.system, name="另一县")
    report = cycles.issue_cycle(session, cycle)
    assert report.issued == 1
    instance = session.scalars(
        select(ProcessInstance).where(ProcessInstance.cycle_id == cycle.id)
    ).one()
    assert instance.unit_id == world.units["otherschool"].id


def test_unit_under_a_city_office_is_reported_not_issued(session, world):
    """A unit the shipped diagram cannot route is listed with the reason."""
    from app.services import organisation

    with transaction(session):
        organisation.create_unit(
            session,
            name="市直单位",
            code="citydirect",
            unit_type="government",
            office=world.offices["C01"],
        )
        cycle = make_cycle(session, world.offices["C01"], world.system, name="市级")
    report = cycles.issue_cycle(session, cycle)
    assert "市直单位" in report.refused
    assert "county" in report.refused["市直单位"]
