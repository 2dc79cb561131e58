"""Statistics figures equal direct counts of the records, in the user's scope."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from openpyxl import load_workbook
from sqlalchemy import extract, func, select

from app.models import (
    Archive,
    CycleResult,
    HumanTask,
    Indicator,
    ProcessInstance,
    RectificationOrder,
    Review,
    ReviewScore,
    Submission,
    Unit,
    utcnow,
)
from app.models.ledger import LedgerEntry
from app.services import scoring, statistics
from app.services.base import transaction
from app.services.statistics_dashboard import build_dashboard, drill
from app.services.statistics_export import dashboard_workbook
from processes.errors import Forbidden, NotFound
from tests.factories import rectify, review, sign_in, submit, verify

YEAR = 2026


@pytest.fixture
def scene(session, world):
    """Put the cycle's units into different states and record ledger entries."""
    late = world.cycle.submission_due + timedelta(days=1, hours=2)
    with time_machine.travel(late, tick=False):
        submit(session, world, "hospital")
    review(session, world, "county", "hospital", "approve")
    submit(session, world, "school")
    review(session, world, "county", "school", "approve")
    submit(session, world, "taxbureau")
    review(session, world, "county", "taxbureau", "approve")
    review(session, world, "city", "taxbureau", "approve")
    submit(session, world, "bank")
    review(session, world, "county", "bank", "rectify")
    low = {i.code: "2" for i in world.system.scoring_indicators() if i.kind == "base"}
    submit(session, world, "community")
    review(session, world, "county", "community", "fail", scores=low)
    submit(session, world, "otherschool")
    review(session, world, "county2", "otherschool", "rectify")
    rectify(session, world, "otherschool")
    verify(session, world, "county2", "otherschool", "passed")
    review(session, world, "county2", "otherschool", "approve")
    _ledger(session, world)
    return world


def _ledger(session, world) -> None:
    codes = {i.code: i.id for i in world.system.scoring_indicators()}
    rows = [
        ("school", "C2", date(YEAR, 3, 5), 45, "90"),
        ("school", "B4", date(YEAR, 3, 20), 30, "0"),
        ("hospital", "B4", date(YEAR, 1, 18), 32, "12.5"),
        ("otherschool", "C2", date(YEAR, 3, 9), 10, "20"),
        ("community", "E3", date(YEAR - 1, 4, 10), 120, "5"),
    ]
    with transaction(session):
        for unit, code, when, people, hours in rows:
            session.add(
                LedgerEntry(
                    unit_id=world.units[unit].id,
                    indicator_id=codes[code],
                    indicator_code=code,
                    occurred_on=when,
                    title="活动",
                    participants=people,
                    volunteer_hours=Decimal(hours),
                )
            )


def board_for(session, world, username, now=None, office_id=None, cycle=None):
    """Compute the dashboard the user sees."""
    user = world.users[username]
    scope = statistics.resolve_scope(session, user, office_id)
    return build_dashboard(
        session, scope, cycle or world.cycle, now=now or utcnow(), year=YEAR
    )


def in_scope(query, path: str):
    """Narrow a query joined to Unit to the units below the path."""
    return query.where(Unit.path.startswith(path))


def ids(session, query) -> tuple[int, ...]:
    """Return the sorted distinct unit ids a query selects."""
    return tuple(sorted(set(session.scalars(query))))


def direct_funnel(session, cycle, path: str) -> dict[str, tuple]:
    """Count each funnel stage straight from the records."""
    issued = in_scope(
        select(Unit.id)
        .join(ProcessInstance)
        .where(ProcessInstance.cycle_id == cycle.id),
        path,
    )
    submitted = in_scope(
        select(Unit.id)
        .join(Submission, Submission.unit_id == Unit.id)
        .where(Submission.cycle_id == cycle.id, Submission.submitted_at.is_not(None)),
        path,
    )
    ready = in_scope(
        select(Unit.id)
        .join(HumanTask, HumanTask.unit_id == Unit.id)
        .where(HumanTask.cycle_id == cycle.id, HumanTask.state == "ready"),
        path,
    )
    archived = in_scope(
        select(Unit.id).join(Archive).where(Archive.cycle_id == cycle.id), path
    )
    found = {
        "funnel.issued": ids(session, issued),
        "funnel.submitted": ids(session, submitted),
        "funnel.rectifying": ids(
            session, ready.where(HumanTask.form_key == "rectification")
        ),
        "funnel.archived": ids(session, archived),
    }
    for lane in ("county", "city", "province", "office"):
        found[f"funnel.review_{lane}"] = ids(
            session, ready.where(HumanTask.lane == lane)
        )
    return found


def test_funnel_counts_equal_the_records(session, scene):
    """Issued, submitted, in review per level, rectifying, archived: direct counts."""
    board = board_for(session, scene, "city")

    expected = direct_funnel(session, scene.cycle, scene.offices["C01"].path)
    assert {b.ref: b.unit_ids for b in board.progress.funnel} == expected
    assert expected["funnel.issued"] and len(expected["funnel.issued"]) == 7
    assert len(expected["funnel.review_city"]) == 1
    assert len(expected["funnel.review_province"]) == 1
    assert len(expected["funnel.rectifying"]) == 1
    assert len(expected["funnel.archived"]) == 3


def test_on_time_rate_counts_first_submissions_by_the_deadline(session, scene):
    """On time = first submitted_at ≤ submission due; rate over all issued units."""
    cycle = scene.cycle
    first = (
        select(Submission.unit_id)
        .join(Unit, Unit.id == Submission.unit_id)
        .where(Submission.cycle_id == cycle.id, Submission.submitted_at.is_not(None))
        .group_by(Submission.unit_id)
    )
    on_time = ids(
        session, first.having(func.min(Submission.submitted_at) <= cycle.submission_due)
    )
    late = ids(
        session, first.having(func.min(Submission.submitted_at) > cycle.submission_due)
    )

    result = board_for(session, scene, "city").progress.on_time

    assert result.on_time.unit_ids == on_time
    assert result.late.unit_ids == late == (scene.units["hospital"].id,)
    assert result.not_submitted.unit_ids == (scene.units["materials"].id,)
    assert result.rate == round(100 * len(on_time) / 7, 1)


def test_overdue_list_names_each_waiting_task_past_due(session, scene):
    """Past due ready tasks are listed with lane and started days overdue."""
    now = scene.cycle.submission_due + timedelta(days=3)
    query = (
        select(HumanTask)
        .join(Unit, Unit.id == HumanTask.unit_id)
        .where(
            HumanTask.cycle_id == scene.cycle.id,
            HumanTask.state == "ready",
            HumanTask.due_at < now,
            Unit.path.startswith(scene.offices["C01"].path),
        )
    )
    expected = {(t.unit_id, t.lane, t.title) for t in session.scalars(query)}

    overdue = board_for(session, scene, "city", now=now).progress.overdue

    assert {(r.unit_id, r.lane, r.task_title) for r in overdue} == expected
    materials = next(r for r in overdue if r.unit_id == scene.units["materials"].id)
    assert (materials.lane, materials.days_overdue) == ("unit", 3)


def test_score_bands_and_groups_equal_archive_aggregates(session, scene):
    """Bands, per sub-office and per type results are direct Archive aggregates."""
    board = board_for(session, scene, "city")
    base = select(Unit.id).join(Archive).where(Archive.cycle_id == scene.cycle.id)

    assert board.score_source == "archive"
    bands = {b.label: b.unit_ids for b in board.bands}
    assert bands["<60"] == ids(session, base.where(Archive.final_score < 60))
    assert bands["85–90"] == ids(
        session, base.where(Archive.final_score >= 85, Archive.final_score < 90)
    )
    assert sum(len(v) for v in bands.values()) == len(ids(session, base))

    county = next(g for g in board.by_office if g.label == "某县文明办")
    path = scene.offices["X01"].path
    mine = in_scope(base, path)
    assert county.scored.unit_ids == ids(session, mine)
    assert county.passed.unit_ids == ids(
        session, mine.where(Archive.grade.in_(("keep", "model")))
    )
    average = session.scalar(
        in_scope(
            select(func.avg(Archive.final_score))
            .join(Unit)
            .where(Archive.cycle_id == scene.cycle.id),
            path,
        )
    )
    assert county.average == Decimal(str(average)).quantize(Decimal("0.01"))

    schools = next(g for g in board.by_type if g.label == "school")
    assert schools.scored.unit_ids == ids(
        session, base.where(Unit.unit_type == "school")
    )
    assert len(schools.issued.unit_ids) == 2


def test_weakest_indicators_average_the_latest_review_of_each_task(session, scene):
    """Share = mean of score ÷ points over each instance's latest review."""
    latest = select(func.max(Review.id)).group_by(Review.instance_id)
    query = (
        select(Indicator.code, func.avg(ReviewScore.score * 1.0 / Indicator.points))
        .join(ReviewScore, ReviewScore.indicator_id == Indicator.id)
        .where(ReviewScore.review_id.in_(latest), Indicator.kind == "base")
        .group_by(Indicator.code)
    )
    expected = {code: round(float(v) * 100, 1) for code, v in session.execute(query)}

    rows = board_for(session, scene, "city").indicators

    assert {r.code: r.average_share for r in rows} == expected
    shares = [r.average_share for r in rows]
    assert shares == sorted(shares)
    assert len(rows[0].reviewed.unit_ids) == 6


def test_rectification_rounds_count_orders_per_task(session, scene):
    """Units with 0 and 1 rectification orders, straight from the orders table."""
    query = (
        select(ProcessInstance.unit_id)
        .join(RectificationOrder, RectificationOrder.instance_id == ProcessInstance.id)
        .where(ProcessInstance.cycle_id == scene.cycle.id)
    )
    once = ids(session, query)

    rounds = {
        b.label: b.unit_ids for b in board_for(session, scene, "city").progress.rounds
    }

    assert rounds["1"] == once
    assert len(once) == 2
    assert len(rounds["0"]) == 7 - len(once)


def test_ledger_by_month_sums_entries_people_and_hours(session, scene):
    """Each month's entries, participants and hours equal SQL sums for the year."""
    months = board_for(session, scene, "city").ledger
    for month in months:
        query = (
            select(
                func.count(LedgerEntry.id),
                func.sum(LedgerEntry.participants),
                func.sum(LedgerEntry.volunteer_hours),
            )
            .join(Unit, Unit.id == LedgerEntry.unit_id)
            .where(
                extract("year", LedgerEntry.occurred_on) == YEAR,
                extract("month", LedgerEntry.occurred_on) == month.month,
            )
        )
        count, people, hours = session.execute(query).one()
        assert month.entries == count
        assert month.participants == (people or 0)
        assert month.volunteer_hours == Decimal(str(hours or 0))
    march = months[2]
    assert (march.entries, march.participants, march.volunteer_hours) == (
        3,
        85,
        Decimal("110"),
    )


def test_trends_list_every_cycle_with_direct_counts(session, scene):
    """A second cycle appears in the trend with its own issued and archived counts."""
    from app.services import cycles
    from tests.factories import make_cycle

    with transaction(session):
        second = make_cycle(session, scene.offices["X01"], scene.system, name="季度")
    cycles.issue_cycle(session, second)
    trends = board_for(session, scene, "city").trends

    assert [t.cycle_id for t in trends] == [scene.cycle.id, second.id]
    for trend in trends:
        issued = select(ProcessInstance.unit_id).where(
            ProcessInstance.cycle_id == trend.cycle_id
        )
        archived = select(Archive.unit_id).where(Archive.cycle_id == trend.cycle_id)
        assert trend.issued.unit_ids == ids(session, issued)
        assert trend.archived.unit_ids == ids(session, archived)
    assert trends[0].archived_share == round(100 * 3 / 7, 1)
    assert trends[1].average_score is None


def test_closed_cycle_scores_come_from_the_cycle_results(session, scene):
    """After the close, bands count CycleResult final scores, not archive rows."""
    scoring.close_cycle(session, scene.cycle, now=utcnow(), actor_id=None)
    board = board_for(session, scene, "city")
    results = select(CycleResult.unit_id).where(CycleResult.cycle_id == scene.cycle.id)

    assert board.score_source == "results"
    assert sum(b.count for b in board.bands) == len(ids(session, results))
    low = ids(session, results.where(CycleResult.final_score < 60))
    assert next(b for b in board.bands if b.label == "<60").unit_ids == low


def test_county_user_sees_only_its_own_county(session, scene):
    """The county reviewer's figures leave out the other county; its office is 404."""
    board = board_for(session, scene, "county")
    county_path = scene.offices["X01"].path

    expected = direct_funnel(session, scene.cycle, county_path)
    assert {b.ref: b.unit_ids for b in board.progress.funnel} == expected
    assert scene.units["otherschool"].id not in board.progress.funnel[0].unit_ids
    with pytest.raises(NotFound):
        statistics.resolve_scope(
            session, scene.users["county"], scene.offices["Y01"].id
        )
    with pytest.raises(Forbidden):
        statistics.resolve_scope(session, scene.users["school"], None)


def test_sub_office_narrows_the_city_figures(session, scene):
    """The city user choosing the other county sees only that county's unit."""
    board = board_for(session, scene, "city", office_id=scene.offices["Y01"].id)

    assert board.progress.funnel[0].unit_ids == (scene.units["otherschool"].id,)
    assert board.progress.rounds[1].unit_ids == (scene.units["otherschool"].id,)


def test_drill_down_lists_exactly_the_units_counted(session, scene):
    """Every number's drill-down lists the units behind it and no others."""
    board = board_for(session, scene, "city")
    for ref, found in board.buckets().items():
        rows = drill(session, board, ref).rows
        assert tuple(sorted(r.unit_id for r in rows)) == found.unit_ids, ref
    with pytest.raises(NotFound):
        drill(session, board, "funnel.nonsense")


def test_excel_export_holds_the_same_numbers(session, scene):
    """The workbook has a sheet per figure with the dashboard's numbers."""
    board = board_for(session, scene, "city")
    book = load_workbook(io.BytesIO(dashboard_workbook(board)))

    funnel = {
        row[0]: row[1]
        for row in book["进度漏斗"].iter_rows(min_row=2, values_only=True)
    }
    direct = direct_funnel(session, scene.cycle, scene.offices["C01"].path)
    assert funnel["已下达"] == len(direct["funnel.issued"])
    assert funnel["已归档"] == len(direct["funnel.archived"])
    assert funnel["县级审核中"] == len(direct["funnel.review_county"])
    rounds = dict(book["整改轮次"].iter_rows(min_row=2, values_only=True))
    assert rounds == {0: 5, 1: 2}
    march = list(book[f"台账{YEAR}"].iter_rows(min_row=4, max_row=4, values_only=True))
    assert march[0][1:4] == (3, 85, 110)
    assert len(book.sheetnames) == 10


def test_dashboard_page_shows_the_numbers_and_links_them(app, session, scene):
    """The page's tables show the counts, each linking to its drill-down page."""
    client = sign_in(app, "city")
    page = client.get(f"/statistics/?cycle_id={scene.cycle.id}&year={YEAR}")
    html = page.get_data(as_text=True)

    assert page.status_code == 200
    direct = direct_funnel(session, scene.cycle, scene.offices["C01"].path)
    for ref, units in direct.items():
        assert re.search(rf'data-ref="{ref}">{len(units)}</a>', html), ref
    assert 'id="statistics-data"' in html and "echarts.min.js" in html

    link = re.search(r'href="([^"]*ref=funnel.archived[^"]*)"', html).group(1)
    drill_page = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    shown = {
        int(i)
        for i in re.findall(r'class="drill-row" data-unit-id="(\d+)"', drill_page)
    }
    assert shown == set(direct["funnel.archived"])


def test_pages_refuse_units_and_out_of_scope_offices(app, scene):
    """A liaison gets 403; a county reviewer asking for another county gets 404."""
    assert sign_in(app, "school").get("/statistics/").status_code == 403
    county = sign_in(app, "county")
    other = scene.offices["Y01"].id
    assert county.get(f"/statistics/?office_id={other}").status_code == 404
    assert county.get("/statistics/?cycle_id=x").status_code == 422
    assert county.get("/statistics/?year=1066").status_code == 422
    assert county.get("/statistics/units?ref=bands.99").status_code == 404
    export = county.get("/statistics/export.xlsx")
    assert export.status_code == 200
    assert export.mimetype.endswith("spreadsheetml.sheet")
    data = county.get("/statistics/data.json").get_json()
    assert {c["id"] for c in data["charts"]} >= {"funnel", "bands", "trends"}
