"""Results pages: closing a cycle by hand, the scoped table, its Excel file and the
deductions recorded against units."""

from __future__ import annotations

import io
from decimal import Decimal
from urllib.parse import unquote

from openpyxl import load_workbook
from sqlalchemy import select

from app.models import Cycle, CycleResult, UnitDeduction
from tests.factories import review, sign_in, submit

PROBLEM = {
    "kind": "problem",
    "indicator_code": "G1",
    "count": "2",
    "points": "",
    "description": "检查发现公共区域卫生死角",
}


def rows_of(page: str) -> list[str]:
    """Return the unit ids of the result rows on a results page, in order."""
    return [
        part.split('"')[0] for part in page.split('class="results-row" data-unit-id="')
    ][1:]


def cell(page: str, unit_id: int, column: str) -> str:
    """Return the text of one column of a unit's row on a results page."""
    row = page.split(f'data-unit-id="{unit_id}"')[1].split("</tr>")[0]
    value = row.split(f'data-col="{column}">')[1].split("</td>")[0]
    return value.replace("<strong>", "").replace("</strong>", "").strip()


def record_problem(app, unit_id: int, cycle_id: int):
    """Have the county record the problem deduction against a unit on the page."""
    return sign_in(app, "county").post(
        f"/cycles/{cycle_id}/deductions",
        data={**PROBLEM, "unit_id": str(unit_id)},
        follow_redirects=True,
    )


def close_by_hand(client, cycle_id: int, confirm: bool = True):
    """Post the close form of a cycle, ticked or not."""
    data = {"confirm": "y"} if confirm else {}
    return client.post(f"/cycles/{cycle_id}/close", data=data)


def stored_results(session, cycle_id: int) -> dict[int, CycleResult]:
    """Return the stored results of a cycle by unit id, freshly read."""
    query = (
        select(CycleResult)
        .where(CycleResult.cycle_id == cycle_id)
        .execution_options(populate_existing=True)
    )
    return {result.unit_id: result for result in session.scalars(query)}


def approved_school(session, world) -> int:
    """Have the school submit on time and the county approve it; return its id."""
    submit(session, world, "school")
    review(session, world, "county", "school", "approve")
    return world.units["school"].id


def test_only_a_ticked_close_by_the_issuing_office_closes_the_cycle(
    app, session, world
):
    """Another office is refused, an unticked form changes nothing, then it closes."""
    cycle_id = world.cycle.id

    county = sign_in(app, "county")
    assert "close-form" not in county.get(f"/cycles/{cycle_id}/results").text
    assert close_by_hand(county, cycle_id).status_code == 403

    city = sign_in(app, "city")
    unticked = close_by_hand(city, cycle_id, confirm=False)
    assert unticked.status_code == 302
    assert session.get(Cycle, cycle_id).closed_at is None
    assert "Tick the box" in city.get(f"/cycles/{cycle_id}/results").text
    assert stored_results(session, cycle_id) == {}

    closed = city.get(
        close_by_hand(city, cycle_id).headers["Location"], follow_redirects=True
    )
    session.expire_all()
    assert session.get(Cycle, cycle_id).closed_at is not None
    units = len(world.units)
    assert f"The cycle is closed: {units} units scored, {units} overdue." in (
        closed.text
    )
    assert len(rows_of(closed.text)) == units


def test_table_shows_hand_computed_scores_within_the_readers_scope(app, session, world):
    """85 base − 2 × 1 for the problem item = 83, below the 85 that keeps a title."""
    school_id = approved_school(session, world)
    recorded = record_problem(app, school_id, world.cycle.id)
    assert "The deduction is recorded." in recorded.text
    close_by_hand(sign_in(app, "city"), world.cycle.id)

    page = sign_in(app, "county").get(f"/cycles/{world.cycle.id}/results").text
    assert cell(page, school_id, "base") == "85.00"
    assert cell(page, school_id, "problem") == "2.00"
    assert cell(page, school_id, "final") == "83.00"
    assert cell(page, school_id, "grade") == "Below the threshold"
    assert cell(page, school_id, "rank-office") == "1"
    assert rows_of(page)[0] == str(school_id)
    in_county = {str(u.id) for code, u in world.units.items() if code != "otherschool"}
    assert set(rows_of(page)) == in_county

    other_county = sign_in(app, "county2").get(f"/cycles/{world.cycle.id}/results")
    assert rows_of(other_county.text) == [str(world.units["otherschool"].id)]


def test_filters_narrow_the_table_and_a_wrong_one_is_named(app, session, world):
    """Unit type and grade filters narrow the rows; an unknown grade is ignored."""
    school_id = approved_school(session, world)
    city = sign_in(app, "city")
    close_by_hand(city, world.cycle.id)
    url = f"/cycles/{world.cycle.id}/results"

    schools = city.get(url, query_string={"unit_type": "school"}).text
    assert set(rows_of(schools)) == {
        str(school_id),
        str(world.units["otherschool"].id),
    }
    kept = city.get(url, query_string={"grade": "keep"}).text
    assert rows_of(kept) == [str(school_id)]
    wrong = city.get(url, query_string={"grade": "excellent"}).text
    assert 'data-field="grade"' in wrong
    assert len(rows_of(wrong)) == len(world.units)


def test_excel_file_holds_the_rows_of_the_filtered_table(app, session, world):
    """The download has the page's rows and scores as numbers, under Chinese headers."""
    school_id = approved_school(session, world)
    city = sign_in(app, "city")
    close_by_hand(city, world.cycle.id)
    query = {"unit_type": "school"}
    page = city.get(f"/cycles/{world.cycle.id}/results", query_string=query).text

    response = city.get(f"/cycles/{world.cycle.id}/results.xlsx", query_string=query)
    assert response.status_code == 200
    disposition = unquote(response.headers["Content-Disposition"])
    assert f"{world.cycle.name}-测评结果.xlsx" in disposition
    sheet = load_workbook(io.BytesIO(response.data)).active
    header, *rows = list(sheet.iter_rows(values_only=True))

    assert header[0] == "单位" and header[11] == "最终得分" and header[12] == "等级"
    assert len(rows) == len(rows_of(page)) == 2
    school = next(row for row in rows if row[0] == world.units["school"].name)
    assert school[11] == 85.0 and school[12] == "合格"
    assert cell(page, school_id, "final") == "85.00"


def test_deduction_recorded_on_the_page_is_listed_and_counts_when_recomputed(
    app, session, world
):
    """A deduction after the close is listed at once and counts after a recompute."""
    school_id = approved_school(session, world)
    city = sign_in(app, "city")
    close_by_hand(city, world.cycle.id)
    assert stored_results(session, world.cycle.id)[school_id].final_score == 85

    form = sign_in(app, "county").get(f"/cycles/{world.cycle.id}/deductions").text
    assert "count once its results are recomputed" in form
    recorded = record_problem(app, school_id, world.cycle.id)
    assert "The deduction is recorded." in recorded.text
    assert 'data-kind="problem"' in recorded.text
    assert PROBLEM["description"] in recorded.text

    city = sign_in(app, "city")
    recomputed = city.get(close_by_hand(city, world.cycle.id).headers["Location"])
    assert "Results recomputed" in recomputed.text
    result = stored_results(session, world.cycle.id)[school_id]
    assert result.problem_deduction == Decimal(2)
    assert result.final_score == Decimal(83)


def test_wrong_deduction_is_refused_with_its_field_and_keeps_what_was_typed(
    app, session, world
):
    """No unit, or a problem without item or points, is named; nothing is stored."""
    school_id = str(world.units["school"].id)
    county = sign_in(app, "county")
    url = f"/cycles/{world.cycle.id}/deductions"

    no_unit = county.post(url, data={**PROBLEM, "unit_id": ""})
    assert no_unit.status_code == 422
    assert "Choose a unit of this cycle." in no_unit.text
    no_points = county.post(
        url, data={**PROBLEM, "unit_id": school_id, "indicator_code": ""}
    )
    assert no_points.status_code == 422
    assert 'id="points-errors"' in no_points.text
    assert PROBLEM["description"] in no_points.text
    assert f'<option selected value="{school_id}">' in no_points.text
    assert session.scalars(select(UnitDeduction)).all() == []


def test_liaison_and_another_county_cannot_record_against_the_unit(app, session, world):
    """A unit's liaison gets no form and is refused; another county cannot reach it."""
    data = {**PROBLEM, "unit_id": str(world.units["school"].id)}
    url = f"/cycles/{world.cycle.id}/deductions"

    liaison = sign_in(app, "school")
    assert 'id="deduction-form"' not in liaison.get(url).text
    assert liaison.post(url, data=data).status_code == 403
    assert sign_in(app, "county2").post(url, data=data).status_code == 404
    assert session.scalars(select(UnitDeduction)).all() == []
