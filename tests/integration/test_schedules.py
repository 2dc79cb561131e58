"""Cycle schedules: validation, periods, opening once per period, unit filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from app.models import Cycle, ProcessInstance
from app.services import cycles, indicators, schedules
from app.services.base import transaction
from app.services.demo_data import INDICATOR_SYSTEM
from processes.errors import Forbidden, InvalidInput
from scheduler import jobs, runtime, schedule_sync

# 1 October 2026, 08:00 in Asia/Shanghai.
OCTOBER_FIRST = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)


def spec(world, **changes) -> schedules.ScheduleSpec:
    """Return a yearly schedule for the city office: 1 October, 08:00."""
    values = dict(
        name="年度测评",
        office=world.offices["C01"],
        indicator_system=world.system,
        recurrence="yearly",
        month=10,
        day=1,
        hour=8,
    )
    values.update(changes)
    return schedules.ScheduleSpec(**values)


def create(session, world, user="city", **changes):
    """Create a schedule as the given user and commit it."""
    with transaction(session):
        return schedules.create_schedule(
            session, world.users[user], spec(world, **changes)
        )


def cycles_of(session, schedule) -> list[Cycle]:
    """Return the cycles a schedule opened."""
    query = select(Cycle).where(Cycle.schedule_id == schedule.id)
    return list(session.scalars(query))


def instances_per_unit(session, cycle_id: int) -> dict[int, int]:
    """Count a cycle's instances by unit."""
    query = (
        select(ProcessInstance.unit_id, func.count())
        .where(ProcessInstance.cycle_id == cycle_id)
        .group_by(ProcessInstance.unit_id)
    )
    return dict(session.execute(query).all())


@pytest.mark.parametrize(
    ("changes", "cron"),
    [
        ({}, "0 8 1 10 *"),
        ({"recurrence": "quarterly", "day": 15, "hour": 9}, "0 9 15 1,4,7,10 *"),
        ({"recurrence": "monthly", "day": 5, "hour": 0}, "0 0 5 * *"),
        ({"recurrence": "cron", "cron": " 30  7 * * 1 "}, "30 7 * * 1"),
    ],
)
def test_recurrences_become_cron_text(session, world, changes, cron):
    """Each recurrence is stored as five cron fields in the office's time zone."""
    schedule = create(session, world, **changes)
    assert schedule.cron == cron
    assert schedule.active


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"recurrence": "quarterly", "day": 31}, "April has 30 days"),
        ({"month": 2, "day": 30}, "day must be from 1 to 28 for month 2"),
        ({"recurrence": "monthly", "day": 29}, "every month"),
        ({"hour": 24}, "hour must be from 0 to 23"),
        ({"recurrence": "cron", "cron": "0 8 1 10"}, "five fields"),
        ({"recurrence": "cron", "cron": "0 8 32 1 *"}, "higher than the maximum"),
        ({"recurrence": "cron", "cron": "0 8 30 2 *"}, "never fires"),
        ({"recurrence": "weekly"}, "recurrence must be one of"),
        ({"submission_days": 0}, "submission window in days must be from 1"),
        ({"reminder_lead": "two days"}, "not a duration"),
        ({"title_levels": ["gold"]}, "unknown title level gold"),
        ({"name": " "}, "needs a name"),
    ],
)
def test_bad_schedules_are_refused_in_plain_words(session, world, changes, words):
    """A schedule that cannot work is refused with a message saying why."""
    with pytest.raises(InvalidInput) as error:
        create(session, world, **changes)
    assert words in error.value.message


def test_schedule_needs_a_published_system_of_its_office_or_above(session, world):
    """Unpublished systems and systems of another branch are refused."""
    with transaction(session):
        draft = indicators.create_system(
            session, office=world.offices["X01"], **{**INDICATOR_SYSTEM, "code": "X"}
        )
        draft.published = False
    with pytest.raises(InvalidInput, match="not published"):
        create(session, world, user="admin", indicator_system=draft)
    with transaction(session):
        draft.published = True
    with pytest.raises(InvalidInput, match="not .* or an office above it"):
        create(
            session,
            world,
            user="admin",
            office=world.offices["Y01"],
            indicator_system=draft,
        )


def test_only_administrators_of_the_office_or_above_manage_schedules(session, world):
    """A county administrator cannot schedule for the city; a reviewer cannot at all."""
    with pytest.raises(Forbidden):
        create(session, world, user="county")
    with pytest.raises(Forbidden):
        create(session, world, user="county_b", office=world.offices["X01"])
    assert create(session, world, user="province").office_id == world.offices["C01"].id


@pytest.mark.parametrize(
    ("recurrence", "fire", "period"),
    [
        ("yearly", OCTOBER_FIRST, "2026"),
        ("quarterly", datetime(2026, 9, 30, 16, 30, tzinfo=UTC), "2026-Q4"),
        ("monthly", datetime(2026, 10, 31, 23, 0, tzinfo=UTC), "2026-11"),
        ("cron", OCTOBER_FIRST, "2026-10-01T08:00"),
    ],
)
def test_period_of_a_fire_time_is_in_the_office_time_zone(
    session, world, recurrence, fire, period
):
    """Periods follow the office's calendar (Asia/Shanghai), not UTC."""
    schedule = create(session, world, recurrence=recurrence, day=1, cron="0 8 1 * *")
    assert schedules.period_of(schedule, fire) == period
    assert schedules.cycle_name(schedule, period) == f"年度测评 {period}"


def test_latest_fire_time_finds_the_period_a_late_run_belongs_to(session, world):
    """A run a few hours late still opens the period that fell due."""
    trigger = schedules.trigger_for("0 8 1 10 *", "Asia/Shanghai")
    late = OCTOBER_FIRST + timedelta(hours=5)
    assert schedules.latest_fire_time(trigger, late) == OCTOBER_FIRST
    every_five = schedules.trigger_for("*/5 * * * *", "UTC")
    now = datetime(2026, 12, 3, 1, 7, 30, tzinfo=UTC)
    assert schedules.latest_fire_time(every_five, now) == now.replace(
        minute=5, second=0
    )


def test_scheduled_job_opens_the_cycle_once_per_period(app, session, world):
    """At its fire time the schedule's job opens one cycle; a rerun opens nothing."""
    schedule = create(session, world, submission_days=20)
    scheduler = runtime.build_scheduler(app, blocking=False)
    scheduler.start(paused=True)
    try:
        schedule_sync.sync_schedule_jobs(scheduler, app)
        job = scheduler.get_job(schedule_sync.job_id(schedule.id))
    finally:
        scheduler.shutdown(wait=False)
    assert job.misfire_grace_time == schedule_sync.OPENING_GRACE_SECONDS

    with time_machine.travel(OCTOBER_FIRST - timedelta(days=1), tick=False):
        assert job.trigger.get_next_fire_time(None, datetime.now(UTC)) == (
            OCTOBER_FIRST
        )
    with time_machine.travel(OCTOBER_FIRST + timedelta(minutes=3), tick=False):
        job.func(*job.args)
        job.func(*job.args)
        jobs.issue_cycles_job(app)

    opened = cycles_of(session, schedule)
    assert [(c.name, c.period) for c in opened] == [("年度测评 2026", "2026")]
    cycle = opened[0]
    assert cycle.submission_due == OCTOBER_FIRST + timedelta(days=20)
    assert cycle.closes_at == cycle.province_review_due
    assert cycle.issued_at is not None
    assert cycle.issue_done == cycle.issue_total == len(world.units)
    assert set(instances_per_unit(session, cycle.id).values()) == {1}


def test_inactive_schedule_opens_nothing(session, world):
    """A deactivated schedule's run opens no cycle."""
    schedule = create(session, world)
    with transaction(session):
        schedules.set_active(session, world.users["city"], schedule.id, False)
    assert schedules.open_scheduled(session, schedule.id, OCTOBER_FIRST) is None
    assert cycles_of(session, schedule) == []


def test_sync_adds_reschedules_and_removes_schedule_jobs(app, session, world):
    """Jobs follow the table: new schedules added, edits rescheduled, stops removed."""
    schedule = create(session, world)
    key = schedule_sync.job_id(schedule.id)
    scheduler = runtime.build_scheduler(app, blocking=False)
    scheduler.start(paused=True)
    try:
        if scheduler.get_job(key):  # left in the job store by an earlier test
            scheduler.remove_job(key)
        assert schedule_sync.sync_schedule_jobs(scheduler, app).added == [key]
        assert schedule_sync.sync_schedule_jobs(scheduler, app).added == []
        with transaction(session):
            schedules.update_schedule(
                session, world.users["city"], schedule.id, spec(world, day=2)
            )
        assert schedule_sync.sync_schedule_jobs(scheduler, app).rescheduled == [key]
        with transaction(session):
            schedules.set_active(session, world.users["city"], schedule.id, False)
        assert schedule_sync.sync_schedule_jobs(scheduler, app).removed == [key]
        assert scheduler.get_job(key) is None
    finally:
        scheduler.shutdown(wait=False)


@pytest.mark.parametrize(
    ("filters", "unit_codes"),
    [
        ({"unit_types": ["school"]}, {"school", "otherschool"}),
        ({"title_levels": ["none"]}, {"materials", "otherschool"}),
        ({"title_levels": ["city", "province"]}, {"hospital", "taxbureau"}),
        (
            {"unit_types": ["school", "hospital"], "title_levels": ["county"]},
            {"school"},
        ),
    ],
)
def test_unit_filters_choose_who_is_issued(session, world, filters, unit_codes):
    """A cycle for some unit types or title levels reaches only those units."""
    now = datetime.now(UTC)
    with transaction(session):
        cycle = cycles.open_cycle(
            session,
            office=world.offices["C01"],
            name="专项",
            indicator_system=world.system,
            submission_due=now + timedelta(days=10),
            county_review_due=now + timedelta(days=20),
            city_review_due=now + timedelta(days=30),
            province_review_due=now + timedelta(days=40),
            **filters,
        )
    report = cycles.issue_cycle(session, cycle)

    issued = set(instances_per_unit(session, cycle.id))
    assert issued == {world.units[code].id for code in unit_codes}
    assert report.issued == len(unit_codes)
    assert cycle.issue_total == cycle.issue_done == len(unit_codes)


def test_interrupted_issuance_shows_progress_and_resumes(app, session, world):
    """A crash after the first batch leaves its progress; the resume job finishes."""

    class Interrupted(Exception):
        """Stands for the process being killed."""

    with transaction(session):
        cycle = cycles.open_cycle(
            session,
            office=world.offices["C01"],
            name="中断后续发",
            indicator_system=world.system,
            submission_due=OCTOBER_FIRST,
            county_review_due=OCTOBER_FIRST,
            city_review_due=OCTOBER_FIRST,
            province_review_due=OCTOBER_FIRST,
        )
    cycle_id = cycle.id

    def crash(done: int, total: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        cycles.issue_cycle(session, cycle, batch_size=2, progress=crash)
    session.expire_all()
    cycle = session.get(Cycle, cycle_id)
    assert (cycle.issue_done, cycle.issue_total) == (2, len(world.units))
    assert cycle.issued_at is None

    assert jobs.issue_cycles_job(app) == [cycle_id]
    session.expire_all()
    cycle = session.get(Cycle, cycle_id)
    assert cycle.issue_done == len(world.units)
    assert cycle.issued_at is not None
    assert set(instances_per_unit(session, cycle_id).values()) == {1}
    assert len(instances_per_unit(session, cycle_id)) == len(world.units)
    assert jobs.issue_cycles_job(app) == []


def test_schedule_commands_create_list_and_run(session, world, cli):
    """`flask schedule create|list|run` opens the current period and issues it."""
    result = cli.invoke(
        args=[
            "schedule", "create", "--office", "C01", "--name", "季度检查",
            "--indicator-system", world.system.code, "--recurrence", "quarterly",
            "--day", "1", "--hour", "8", "--unit-type", "school",
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "0 8 1 1,4,7,10 *" in result.output

    listed = cli.invoke(args=["schedule", "list"])
    assert "季度检查" in listed.output and "active" in listed.output

    schedule_id = int(result.output.split()[1].rstrip(":"))
    with time_machine.travel(OCTOBER_FIRST + timedelta(days=3), tick=False):
        run = cli.invoke(args=["schedule", "run", str(schedule_id)])
        again = cli.invoke(args=["schedule", "run", str(schedule_id)])
    assert run.exit_code == 0, run.output
    assert "季度检查 2026-Q4: 2 units issued" in run.output
    assert "0 units issued, 2 already had the task" in again.output


def test_schedule_command_errors_are_readable(session, world, cli):
    """A bad calendar is refused with the reason, and nothing is created."""
    result = cli.invoke(
        args=[
            "schedule", "create", "--office", "C01", "--name", "坏",
            "--indicator-system", world.system.code, "--recurrence", "quarterly",
            "--day", "31",
        ]
    )  # fmt: skip
    assert result.exit_code != 0
    assert "April has 30 days" in result.output
    assert cli.invoke(args=["schedule", "run", "999"]).exit_code != 0


def test_cycle_open_command_takes_unit_filters(session, world, cli):
    """`flask cycle open --title-level none` issues only units without a title."""
    now = datetime.now(UTC)
    dues = [
        f"--{kind}-due=" + (now + timedelta(days=days)).isoformat()
        for kind, days in (
            ("submission", 10),
            ("county-review", 20),
            ("city-review", 30),
            ("province-review", 40),
        )
    ]
    result = cli.invoke(
        args=[
            "cycle", "open", "--office", "C01", "--name", "新申报",
            "--indicator-system", world.system.code, "--title-level", "none",
            *dues,
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 units issued" in result.output
