"""Cycle pages: opening a cycle by hand, its issuance step by step, schedules."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select

from app.cycles import views as cycle_views
from app.models import Cycle, CycleSchedule, ProcessInstance
from app.services import cycles
from app.services.base import transaction
from tests.factories import build_world, sign_in

JSON = {"Accept": "application/json"}
OPEN_FORM = {
    "name": "2027年度创建任务",
    "submission_due": "2027-10-31T18:00",
    "county_review_due": "2027-11-15T18:00",
    "city_review_due": "2027-11-25T18:00",
    "province_review_due": "2027-11-30T18:00",
    "reminder_lead": "P2D",
    "auto_close": "y",
}


@pytest.fixture
def world(session, app):
    """The sample organisation with its cycle opened but not issued."""
    return build_world(session, Path(app.config["WENMING_UPLOAD_FOLDER"]), issue=False)


def open_form(world, office_code: str = "C01", **changes) -> dict:
    """Return the open-a-cycle form for an office, with changes."""
    data = dict(OPEN_FORM)
    data["office_id"] = str(world.offices[office_code].id)
    data["indicator_system_id"] = str(world.system.id)
    data.update(changes)
    return data


def instances_of(session, cycle_id: int) -> dict[int, int]:
    """Return the number of creation tasks per unit of a cycle."""
    session.expire_all()
    rows = session.execute(
        select(ProcessInstance.unit_id, func.count())
        .where(ProcessInstance.cycle_id == cycle_id)
        .group_by(ProcessInstance.unit_id)
    )
    return dict(rows.all())


def test_office_admin_opens_a_cycle_and_the_page_issues_it_batch_by_batch(
    app, session, world, monkeypatch
):
    """Opening from the page stores local deadlines in UTC; each step issues more."""
    monkeypatch.setattr(cycle_views, "ISSUE_STEP_SIZE", 2)
    client = sign_in(app, "city")

    response = client.post("/cycles/new", data=open_form(world))
    assert response.status_code == 302
    cycle = session.scalars(select(Cycle).where(Cycle.name == OPEN_FORM["name"])).one()
    assert response.headers["Location"].endswith(f"/cycles/{cycle.id}")
    # 18:00 in Asia/Shanghai is 10:00 UTC.
    assert cycle.submission_due.replace(tzinfo=UTC) == datetime(
        2027, 10, 31, 10, tzinfo=UTC
    )
    page = client.get(f"/cycles/{cycle.id}").get_data(as_text=True)
    assert f'data-step-url="/cycles/{cycle.id}/issue"' in page

    answers = []
    while not answers or not answers[-1]["finished"]:
        answer = client.post(f"/cycles/{cycle.id}/issue", headers=JSON).get_json()
        answers.append(answer)
        assert len(answers) <= len(world.units)
    assert answers[0]["done"] == 2
    assert answers[-1]["done"] == answers[-1]["total"] == len(world.units)
    assert answers[-1]["percent"] == 100
    assert set(instances_of(session, cycle.id).values()) == {1}
    assert len(instances_of(session, cycle.id)) == len(world.units)


def test_issue_step_after_the_end_issues_nothing_more(app, session, world):
    """A step sent again after the issuance finished changes nothing."""
    client = sign_in(app, "city")
    cycle_id = world.cycle.id
    first = client.post(f"/cycles/{cycle_id}/issue", headers=JSON).get_json()
    again = client.post(f"/cycles/{cycle_id}/issue", headers=JSON).get_json()

    assert first["finished"] and again["finished"]
    assert again["done"] == len(world.units)
    assert set(instances_of(session, cycle_id).values()) == {1}
    page = client.get(f"/cycles/{cycle_id}").get_data(as_text=True)
    assert "data-step-url" not in page
    assert f"All tasks are issued: {len(world.units)} of {len(world.units)}" in page


def test_progress_answers_what_the_scheduler_issued(app, session, world):
    """The progress address reports the issuance done by someone else."""
    client = sign_in(app, "county")
    before = client.get(f"/cycles/{world.cycle.id}/progress").get_json()
    cycles.issue_cycle(session, world.cycle)
    after = client.get(f"/cycles/{world.cycle.id}/progress").get_json()

    assert before == {"done": 0, "total": 0, "finished": False, "percent": 0}
    assert after["finished"] and after["done"] == len(world.units)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"name": ""}, "name", "This field is required"),
        ({"submission_due": "31/10/2027"}, "submission_due", "Not a valid datetime"),
        ({"county_review_due": "2027-10-01T18:00"}, None, "deadlines must follow"),
        ({"reminder_lead": "two days"}, None, "two days"),
        ({"name": "2026年度"}, None, "already has a cycle named"),
    ],
)
def test_bad_cycle_form_is_refused_with_its_reason_and_kept(
    app, session, world, changes, field, words
):
    """A refused opening says why, keeps what was typed and opens nothing."""
    client = sign_in(app, "city")
    before = session.scalar(select(func.count()).select_from(Cycle))

    response = client.post("/cycles/new", data=open_form(world, **changes))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert words in page
    if field:
        assert f'id="{field}-errors"' in page
    assert 'value="2027-11-30T18:00"' in page
    assert session.scalar(select(func.count()).select_from(Cycle)) == before


def test_unit_filters_of_the_form_choose_who_is_issued(app, session, world):
    """Ticking a unit type issues the cycle to units of that type only."""
    client = sign_in(app, "county")
    form = open_form(world, "X01", unit_types="school")
    response = client.post("/cycles/new", data=form)
    cycle_id = int(response.headers["Location"].rsplit("/", 1)[1])
    client.post(f"/cycles/{cycle_id}/issue", headers=JSON)

    schools = {u.id for u in world.units.values() if u.unit_type == "school"}
    schools_here = {u for u in schools if u != world.units["otherschool"].id}
    assert set(instances_of(session, cycle_id)) == schools_here


def test_who_may_open_and_issue(app, session, world):
    """Reviewers see cycles but neither open nor issue them; liaisons see none."""
    reviewer = sign_in(app, "county_b")
    assert reviewer.get("/cycles/").status_code == 200
    assert reviewer.get("/cycles/new").status_code == 403
    assert reviewer.post(f"/cycles/{world.cycle.id}/issue").status_code == 403

    county = sign_in(app, "county")
    form = open_form(world, "C01", name="越级")
    assert county.post("/cycles/new", data=form).status_code == 403

    liaison = sign_in(app, "school")
    assert liaison.get("/cycles/").status_code == 403
    assert liaison.get(f"/cycles/{world.cycle.id}").status_code == 403
    assert instances_of(session, world.cycle.id) == {}


def test_cycle_list_shows_cycles_reaching_into_the_office(app, session, world):
    """A county sees its city's cycle and its own, not another county's."""
    with transaction(session):
        for code in ("X01", "Y01"):
            cycles.open_cycle(
                session,
                office=world.offices[code],
                name=f"{code} 季度任务",
                indicator_system=world.system,
                submission_due=world.cycle.submission_due.replace(tzinfo=UTC),
                county_review_due=world.cycle.county_review_due.replace(tzinfo=UTC),
                city_review_due=world.cycle.city_review_due.replace(tzinfo=UTC),
                province_review_due=world.cycle.province_review_due.replace(tzinfo=UTC),
            )
    page = sign_in(app, "county").get("/cycles/").get_data(as_text=True)

    assert "2026年度" in page and "X01 季度任务" in page
    assert "Y01 季度任务" not in page
    other = session.scalars(select(Cycle).where(Cycle.name == "Y01 季度任务")).one()
    assert sign_in(app, "county").get(f"/cycles/{other.id}").status_code == 404


SCHEDULE_FORM = {
    "name": "文明单位年度测评",
    "recurrence": "yearly",
    "month": "10",
    "day": "8",
    "hour": "9",
    "cron": "",
    "submission_days": "30",
    "county_review_days": "15",
    "city_review_days": "10",
    "province_review_days": "10",
    "reminder_lead": "P3D",
    "title_levels": ["city", "province"],
    "auto_close": "y",
}


def schedule_form(world, **changes) -> dict:
    """Return the schedule form for the city office, with changes."""
    data = dict(SCHEDULE_FORM)
    data["office_id"] = str(world.offices["C01"].id)
    data["indicator_system_id"] = str(world.system.id)
    data.update(changes)
    return data


@time_machine.travel(datetime(2026, 12, 4, 2, tzinfo=UTC), tick=False)
def test_schedule_created_on_the_page_is_listed_with_its_next_opening(
    app, session, world
):
    """A yearly schedule on 8 October 09:00 next opens on 8 October 2027."""
    client = sign_in(app, "city")
    response = client.post("/cycles/schedules/new", data=schedule_form(world))
    assert response.status_code == 302

    schedule = session.scalars(select(CycleSchedule)).one()
    assert schedule.cron == "0 9 8 10 *"
    assert schedule.title_levels == ["city", "province"]
    assert schedule.reminder_lead == "P3D"
    page = client.get("/cycles/schedules/").get_data(as_text=True)
    assert "文明单位年度测评" in page
    assert "2027-10-08 09:00" in page


def test_schedule_edit_shows_its_calendar_and_saves_changes(app, session, world):
    """Editing shows month, day and hour again and saves a new day."""
    client = sign_in(app, "city")
    client.post("/cycles/schedules/new", data=schedule_form(world))
    schedule = session.scalars(select(CycleSchedule)).one()

    page = client.get(f"/cycles/schedules/{schedule.id}/edit").get_data(as_text=True)
    assert 'name="day" type="number" value="8"' in page
    response = client.post(
        f"/cycles/schedules/{schedule.id}/edit", data=schedule_form(world, day="9")
    )
    assert response.status_code == 302
    session.expire_all()
    assert session.get(CycleSchedule, schedule.id).cron == "0 9 9 10 *"


def test_paused_schedule_is_shown_paused_and_can_be_activated(app, session, world):
    """Pausing and activating flip the schedule and say so on the list."""
    client = sign_in(app, "city")
    client.post("/cycles/schedules/new", data=schedule_form(world))
    schedule = session.scalars(select(CycleSchedule)).one()

    client.post(f"/cycles/schedules/{schedule.id}/active", data={"active": "0"})
    session.expire_all()
    assert session.get(CycleSchedule, schedule.id).active is False
    page = client.get("/cycles/schedules/").get_data(as_text=True)
    assert "Paused" in page and "Activate" in page

    client.post(f"/cycles/schedules/{schedule.id}/active", data={"active": "1"})
    session.expire_all()
    assert session.get(CycleSchedule, schedule.id).active is True


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"recurrence": "cron", "cron": "0 8 1"}, "cron text needs five fields"),
        ({"month": "2", "day": "30"}, "day must be from 1 to 28"),
        ({"submission_days": "0"}, "Number must be between 1 and 366"),
        ({"recurrence": "cron", "cron": "0 8 31 2 *"}, "never fires"),
    ],
)
def test_bad_schedule_is_refused_in_plain_words(app, session, world, changes, words):
    """A schedule that cannot work is refused with the reason; nothing is saved."""
    client = sign_in(app, "city")
    response = client.post(
        "/cycles/schedules/new", data=schedule_form(world, **changes)
    )

    assert response.status_code == 422
    assert words in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(CycleSchedule)) == 0


def test_schedules_of_another_office_are_out_of_reach(app, session, world):
    """A county administrator neither sees nor edits the city's schedule."""
    sign_in(app, "city").post("/cycles/schedules/new", data=schedule_form(world))
    schedule = session.scalars(select(CycleSchedule)).one()
    county = sign_in(app, "county")

    assert "文明单位年度测评" not in county.get("/cycles/schedules/").get_data(
        as_text=True
    )
    assert county.get(f"/cycles/schedules/{schedule.id}/edit").status_code == 404
    response = county.post(
        f"/cycles/schedules/{schedule.id}/active", data={"active": "0"}
    )
    assert response.status_code == 404
    session.expire_all()
    assert session.get(CycleSchedule, schedule.id).active is True
