"""Closing a cycle: hand-computed scores, deductions, ranks, overdue units, the job."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import select

from app.models import (
    AuditEvent,
    Cycle,
    CycleResult,
    Notification,
    ProcessInstance,
    UnitDeduction,
    utcnow,
)
from app.services import scoring
from app.services.base import transaction
from processes.errors import Forbidden, InvalidInput, NotFound
from scheduler import jobs
from tests.factories import make_cycle, review, review_data, submit


def results_by_unit(session, cycle) -> dict[str, CycleResult]:
    """Return the cycle's stored results keyed by unit code, freshly read."""
    query = (
        select(CycleResult)
        .where(CycleResult.cycle_id == cycle.id)
        .execution_options(populate_existing=True)
    )
    return {r.unit.code: r for r in session.scalars(query)}


def deduct(session, world, unit_code: str, kind: str, **fields):
    """Have the city reviewer record a deduction against a unit."""
    values = {
        "count": 1,
        "points": None,
        "self_reported": True,
        "description": "检查发现",
    }
    values.update(fields)
    return scoring.record_deduction(
        session,
        actor=world.users["city"],
        unit=world.units[unit_code],
        cycle=world.cycle,
        kind=kind,
        **values,
    )


def scores_with(world, **extra) -> dict:
    """Return review scores one below full on base items, plus the given items."""
    scores = review_data(world.system, "approve")["scores"]
    scores.update({code: str(value) for code, value in extra.items()})
    return scores


def close(session, world, now=None) -> scoring.CloseReport:
    """Close the world's cycle at `now` (default: the present)."""
    return scoring.close_cycle(session, world.cycle, now=now or utcnow(), actor_id=None)


def test_hand_computed_score_with_bonus_cap_late_days_and_deductions(session, world):
    """85 base + 7 bonus capped at 5 − 1 review − 3 late − 2 − 2 − 6 = 76, below."""
    with transaction(session):
        world.system.bonus_cap = Decimal(5)
    submitted_at = world.cycle.submission_due + timedelta(days=2, hours=5)
    with time_machine.travel(submitted_at, tick=False):
        submit(session, world, "school")
        scores = scores_with(world, F1=4, F2=3, G1=1)
        review(session, world, "county", "school", "approve", scores=scores)
    deduct(session, world, "school", "problem", count=2, indicator_code="G1")
    deduct(session, world, "school", "complaint", indicator_code="G2")
    deduct(session, world, "school", "incident", points="3", self_reported=False)

    close(session, world, now=submitted_at + timedelta(days=1))

    school = results_by_unit(session, world.cycle)["school"]
    assert school.outcome == "approved"
    assert (school.base_score, school.bonus) == (Decimal(85), Decimal(5))
    assert school.review_deductions == Decimal(1)
    assert (school.days_late, school.late_deduction) == (3, Decimal(3))
    assert school.problem_deduction == Decimal(2)
    assert school.complaint_deduction == Decimal(2)
    assert school.incident_deduction == Decimal(6)
    assert school.total_deductions == Decimal(14)
    assert school.final_score == Decimal(76)
    assert school.grade == "below"
    assert not school.overdue


def test_late_deduction_stops_at_the_cap(session, world):
    """Eight started days late cost 5 points, the system's cap, not 8."""
    submitted_at = world.cycle.submission_due + timedelta(days=7, minutes=1)
    with time_machine.travel(submitted_at, tick=False):
        submit(session, world, "school")
        review(session, world, "county", "school", "approve")

    close(session, world, now=submitted_at)

    school = results_by_unit(session, world.cycle)["school"]
    assert (school.days_late, school.late_deduction) == (8, Decimal(5))
    assert school.final_score == Decimal(80)
    assert school.grade == "below"


def test_records_without_an_item_use_their_own_points(session, world):
    """A problem without an item costs count × its points; a reported incident once."""
    submit(session, world, "school")
    review(session, world, "county", "school", "approve")
    deduct(session, world, "school", "problem", count=3, points="0.5")
    deduct(session, world, "school", "incident", points="2", self_reported=True)

    close(session, world)

    school = results_by_unit(session, world.cycle)["school"]
    assert school.problem_deduction == Decimal("1.5")
    assert school.incident_deduction == Decimal(2)
    assert school.final_score == Decimal("81.5")


def test_vetoes_by_record_and_by_reviewer_fail_without_rank(session, world):
    """A veto record and a reviewer's veto both grade the unit "veto", unranked."""
    for code in ("community", "taxbureau", "school"):
        submit(session, world, code)
    review(session, world, "county", "community", "approve")
    review(session, world, "county", "school", "approve")
    review(session, world, "county", "taxbureau", "fail", vetoes=["V1"])
    deduct(session, world, "community", "veto", indicator_code="V4")

    close(session, world)

    results = results_by_unit(session, world.cycle)
    for code in ("community", "taxbureau"):
        assert results[code].vetoed
        assert results[code].grade == "veto"
        assert results[code].rank_in_office is None
        assert results[code].rank_in_type is None
    assert results["taxbureau"].outcome == "failed"
    assert results["community"].final_score == Decimal(85)
    assert results["school"].rank_in_office == 1
    assert results["school"].grade == "keep"


def test_equal_scores_share_a_rank_and_the_next_rank_is_skipped(session, world):
    """Two units on 85 share rank 1, the 84 after them is 3rd; types rank apart."""
    for code in ("school", "community", "materials"):
        submit(session, world, code)
        review(session, world, "county", code, "approve")
    deduct(session, world, "materials", "problem", indicator_code="G1")

    close(session, world)

    results = results_by_unit(session, world.cycle)
    in_office = {code: r.rank_in_office for code, r in results.items()}
    assert in_office["school"] == in_office["community"] == 1
    assert in_office["materials"] == 3
    assert in_office["hospital"] == in_office["bank"] == in_office["taxbureau"] == 4
    assert results["otherschool"].rank_in_office == 1
    assert results["school"].rank_in_type == 1
    assert results["otherschool"].rank_in_type == 2
    assert results["materials"].final_score == Decimal(84)


def test_unfinished_units_are_overdue_and_their_office_is_told(session, world):
    """At the close a waiting review is "overdue", no submission "not_submitted"."""
    submit(session, world, "hospital")
    review(session, world, "county", "hospital", "approve")
    closed_at = world.cycle.submission_due + timedelta(hours=1)

    report = close(session, world, now=closed_at)

    results = results_by_unit(session, world.cycle)
    hospital, bank = results["hospital"], results["bank"]
    assert (hospital.outcome, hospital.overdue) == ("overdue", True)
    assert hospital.base_score == Decimal(85)
    assert (bank.outcome, bank.overdue) == ("not_submitted", True)
    assert (bank.days_late, bank.late_deduction, bank.final_score) == (1, 1, 0)
    assert report.overdue == len(world.units)
    told = _overdue_notes(session, world.users["county"])
    assert any("县人民医院" in note.title and "未完成" in note.title for note in told)
    assert any("某银行县支行" in note.title and "未上报" in note.title for note in told)
    assert _overdue_notes(session, world.users["county2"])
    instance = session.get(ProcessInstance, hospital.instance_id)
    assert instance.status == "running"
    actions = _actions(session)
    assert actions.count("cycle.unit_overdue") == len(world.units)
    assert "cycle.closed" in actions


def test_recompute_counts_a_new_deduction_and_tells_no_one_twice(session, world):
    """Closing again after a new complaint lowers the score; closed_at stays put."""
    submit(session, world, "school")
    review(session, world, "county", "school", "approve")
    first_close = utcnow() - timedelta(hours=1)
    close(session, world, now=first_close)
    told_before = len(_overdue_notes(session, world.users["county"]))

    deduct(session, world, "school", "complaint", count=2, indicator_code="G2")
    report = close(session, world)

    school = results_by_unit(session, world.cycle)["school"]
    assert school.complaint_deduction == Decimal(4)
    assert school.final_score == Decimal(81)
    assert not report.first_close
    assert session.get(Cycle, world.cycle.id).closed_at == first_close
    assert session.get(Cycle, world.cycle.id).status == "closed"
    assert len(_overdue_notes(session, world.users["county"])) == told_before
    rows = session.scalars(select(CycleResult).where(CycleResult.unit_id > 0)).all()
    assert len(rows) == len(world.units)
    assert "cycle.recomputed" in _actions(session)


def test_the_job_closes_only_cycles_that_are_due(session, world, app):
    """Only the auto-closing cycle whose close time passed is closed by the job."""
    now = utcnow()
    with transaction(session):
        world.cycle.closes_at = now - timedelta(minutes=1)
        later = make_cycle(session, world.offices["C01"], world.system, "later")
        later.closes_at = now + timedelta(days=1)
        manual = make_cycle(session, world.offices["C01"], world.system, "manual")
        manual.auto_close, manual.closes_at = False, now - timedelta(days=1)
    ids = (world.cycle.id, later.id, manual.id)

    closed = jobs.JOBS["close_due_cycles"](app)
    again = jobs.JOBS["close_due_cycles"](app)

    session.expire_all()
    statuses = [session.get(Cycle, cycle_id).status for cycle_id in ids]
    assert closed == [world.cycle.id]
    assert again == []
    assert statuses == ["closed", "open", "open"]
    assert len(results_by_unit(session, world.cycle)) == len(world.units)


def test_cli_closes_a_cycle_and_names_an_unknown_one(session, world, cli):
    """`flask cycle close` reports what it scored; a wrong id is a clear error."""
    result = cli.invoke(args=["cycle", "close", str(world.cycle.id)])
    again = cli.invoke(args=["cycle", "close", str(world.cycle.id)])
    missing = cli.invoke(args=["cycle", "close", "9999"])

    assert result.exit_code == 0, result.output
    assert f"Cycle {world.cycle.id} closed: {len(world.units)} units scored" in (
        result.output
    )
    assert "recomputed" in again.output
    assert missing.exit_code != 0
    assert "no cycle has the id 9999" in missing.output


@pytest.mark.parametrize(
    ("kind", "fields", "field"),
    [
        ("fine", {}, "kind"),
        ("problem", {"count": 0, "indicator_code": "G1"}, "count"),
        ("problem", {"count": "1.5", "indicator_code": "G1"}, "count"),
        ("problem", {"count": "many", "indicator_code": "G1"}, "count"),
        ("problem", {}, "points"),
        ("complaint", {"points": "-2"}, "points"),
        ("incident", {}, "points"),
        ("problem", {"indicator_code": "G9"}, "indicator_code"),
        ("problem", {"indicator_code": "V1"}, "indicator_code"),
        ("veto", {"indicator_code": "G1"}, "indicator_code"),
        ("problem", {"indicator_code": "G1", "description": " "}, "description"),
    ],
)
def test_bad_deduction_input_is_refused_with_the_field(
    session, world, kind, fields, field
):
    """Each wrong value is named by its field, and nothing is recorded."""
    with pytest.raises(InvalidInput) as refused:
        deduct(session, world, "school", kind, **fields)

    assert field in refused.value.details["errors"]
    assert session.scalars(select(UnitDeduction)).all() == []


def test_deductions_outside_scope_role_or_cycle_are_refused(session, world):
    """Another county, a liaison and a unit without the cycle's task are refused."""
    school, otherschool = world.units["school"], world.units["otherschool"]
    args = {
        "kind": "problem",
        "count": 1,
        "points": "1",
        "self_reported": True,
        "description": "问题",
    }
    with transaction(session):
        unissued = make_cycle(session, world.offices["C01"], world.system, "未下达")

    with pytest.raises(NotFound):
        scoring.record_deduction(
            session,
            actor=world.users["county"],
            unit=otherschool,
            cycle=world.cycle,
            **args,
        )
    with pytest.raises(Forbidden):
        scoring.record_deduction(
            session,
            actor=world.users["school"],
            unit=school,
            cycle=world.cycle,
            **args,
        )
    with pytest.raises(InvalidInput, match="was not issued"):
        scoring.record_deduction(
            session, actor=world.users["county"], unit=school, cycle=unissued, **args
        )
    assert session.scalars(select(UnitDeduction)).all() == []


def _overdue_notes(session, user) -> list[Notification]:
    query = select(Notification).where(
        Notification.user_id == user.id, Notification.kind == "cycle_overdue"
    )
    return list(session.scalars(query))


def _actions(session) -> list[str]:
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
