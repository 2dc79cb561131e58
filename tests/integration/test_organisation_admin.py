"""Organisation administration: the office tree, offices, units, imports, accounts."""

from __future__ import annotations

import io

import pytest
from flask import g
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from app.models import (
    AuditEvent,
    HumanTask,
    Office,
    ProcessInstance,
    TitleChange,
    Unit,
    User,
)
from app.services import organisation, organisation_admin, tasks
from app.services.base import transaction
from processes.errors import InvalidInput
from tests.factories import PASSWORD, anonymous_client, sign_in, submit, task_for

BASE = "/admin/organisation"
UNIT_FORM = {
    "name": "县实验小学",
    "code": "primary",
    "unit_type": "school",
    "office_code": "X01",
    "target_level": "county",
    "title_level": "",
    "title_status": "none",
    "term_start": "",
    "term_end": "",
}
HEADERS = (
    "Unit name",
    "Unit code",
    "Unit type",
    "Managing office code",
    "Target title level",
    "Held title level",
    "Title status",
    "Term start",
    "Term end",
    "Leader sign-off",
)


def try_sign_in(app, username: str, password: str):
    """Post the sign-in form and return the answer."""
    return anonymous_client(app).post(
        "/auth/login?lang=en", data={"username": username, "password": password}
    )


def events(session, action: str) -> list[AuditEvent]:
    """Return the audit events of an action, oldest first."""
    session.expire_all()
    query = select(AuditEvent).where(AuditEvent.action == action)
    return list(session.scalars(query.order_by(AuditEvent.id)))


def workbook_bytes(rows: list[tuple], headers: tuple = HEADERS) -> bytes:
    """Return an .xlsx file with the header row and the rows."""
    book = Workbook()
    sheet = book.active
    sheet.append(list(headers))
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def upload(client, data: bytes, name: str = "units.xlsx"):
    """Post a workbook to the import page."""
    return client.post(
        f"{BASE}/units/import",
        data={"workbook": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def unit_count(session) -> int:
    """Return the number of units."""
    return session.scalar(select(func.count()).select_from(Unit))


def user_form(**changes) -> dict:
    """Return the new-account form for a liaison of the school, with changes."""
    data = {
        "username": "school2",
        "display_name": "第一中学联络员",
        "email": "liaison@school.example",
        "roles": ["liaison"],
        "office_code": "",
        "unit_code": "school",
    }
    data.update(changes)
    return data


def shown_password(page: str) -> str:
    """Return the password a page shows once."""
    start = page.index('id="new-password">') + len('id="new-password">')
    return page[start : page.index("<", start)]


# The office tree and permissions


def test_start_page_shows_the_office_admins_subtree_only(app, world):
    """The county sees its own office; the city its counties; the admin all."""
    county = sign_in(app, "county").get(f"{BASE}/").get_data(as_text=True)
    city = sign_in(app, "city").get(f"{BASE}/").get_data(as_text=True)
    admin = sign_in(app, "admin").get(f"{BASE}/").get_data(as_text=True)

    assert 'data-office="X01"' in county
    assert 'data-office="Y01"' not in county and 'data-office="C01"' not in county
    assert all(f'data-office="{code}"' in city for code in ("C01", "X01", "Y01"))
    assert 'data-office="P01"' not in city
    assert 'data-office="P01"' in admin and 'id="new-province"' in admin
    assert 'id="new-province"' not in city


def test_tree_counts_units_and_accounts_of_each_office(app, world):
    """X01 manages six units; its staff and their liaisons are counted."""
    page = sign_in(app, "county").get(f"{BASE}/").get_data(as_text=True)
    row = page[page.index('data-office="X01"') :]
    row = row[: row.index("</tr>")]

    assert '">6</a>' in row
    # Staff county and county_b, six liaisons and the hospital leader.
    assert '">9</a>' in row


@pytest.mark.parametrize("username", ["county_b", "school", "hospital_leader"])
@pytest.mark.parametrize(
    "path", ["/", "/units/", "/users/", "/units/import", "/units/template.xlsx"]
)
def test_reviewers_and_unit_people_are_refused(app, world, username, path):
    """Without an administrator role every organisation page answers 403."""
    response = sign_in(app, username).get(f"{BASE}{path}")
    assert response.status_code == 403


def test_pages_outside_the_subtree_answer_404(app, world):
    """The county cannot open the other county's office, unit or people."""
    client = sign_in(app, "county")
    other = world.offices["Y01"]
    paths = [
        f"/offices/{other.id}/edit",
        f"/offices/new?parent={world.offices['C01'].id}",
        f"/units/{world.units['otherschool'].id}/edit",
        f"/units/?office={other.id}",
        f"/users/{world.users['county2'].id}/edit",
        f"/users/{world.users['admin'].id}/edit",
        f"/users/?unit={world.units['otherschool'].id}",
    ]
    for path in paths:
        assert client.get(f"{BASE}{path}").status_code == 404, path
    response = client.post(f"{BASE}/users/{world.users['county2'].id}/active")
    assert response.status_code == 404


# Offices


def test_city_adds_a_county_office_under_itself(app, session, world):
    """The new office takes the county level, its path and an audit event."""
    city = world.offices["C01"]
    client = sign_in(app, "city")
    form = client.get(f"{BASE}/offices/new?parent={city.id}").get_data(as_text=True)
    response = client.post(
        f"{BASE}/offices/new?parent={city.id}",
        data={"name": "新区文明办", "code": "Z01", "timezone": "Asia/Urumqi"},
    )

    assert 'id="office-level">County' in form
    assert response.status_code == 302
    office = session.scalars(select(Office).where(Office.code == "Z01")).one()
    assert (office.level, office.parent_id) == ("county", city.id)
    assert office.path == f"{city.path}{office.id}/"
    assert office.timezone == "Asia/Urumqi"
    [event] = events(session, "office.created")
    assert (event.object_id, event.detail["level"]) == (office.id, "county")
    assert event.actor_id == world.users["city"].id


def test_a_county_office_takes_no_office_under_it(app, session, world):
    """Adding under a county is refused with the reason; nothing is added."""
    county = world.offices["X01"]
    response = sign_in(app, "county").post(
        f"{BASE}/offices/new?parent={county.id}",
        data={"name": "乡镇文明办", "code": "T01", "timezone": "Asia/Shanghai"},
    )

    assert response.status_code == 422
    assert "County offices have no offices under them" in response.get_data(
        as_text=True
    )
    assert session.scalar(select(Office).where(Office.code == "T01")) is None


def test_a_level_that_does_not_follow_the_parent_is_refused(session, world):
    """A county office straight under the province is refused by the service."""
    with pytest.raises(InvalidInput) as refused:
        organisation_admin.create_office(
            session,
            world.users["admin"],
            parent_id=world.offices["P01"].id,
            name="错层文明办",
            code="W01",
            timezone="Asia/Shanghai",
            level="county",
        )
    assert refused.value.details["kinds"]["level"]["expected"] == "city"


def test_only_a_system_administrator_adds_a_province_office(app, session, world):
    """The province administrator may not add a second province; the admin may."""
    data = {"name": "另一省文明办", "code": "P02", "timezone": "Asia/Shanghai"}
    refused = sign_in(app, "province").post(f"{BASE}/offices/new", data=data)
    added = sign_in(app, "admin").post(f"{BASE}/offices/new", data=data)

    assert refused.status_code == 403
    assert added.status_code == 302
    office = session.scalars(select(Office).where(Office.code == "P02")).one()
    assert (office.level, office.parent_id) == ("province", None)


def test_office_edit_checks_code_and_time_zone(app, session, world):
    """A taken code and an unknown zone are refused; good values are saved."""
    county = world.offices["X01"]
    client = sign_in(app, "county")
    url = f"{BASE}/offices/{county.id}/edit"
    taken = client.post(url, data={"name": "县", "code": "Y01", "timezone": "UTC"})
    zone = client.post(url, data={"name": "县", "code": "X01", "timezone": "Mars/Base"})
    saved = client.post(
        url, data={"name": "某县文明办（新）", "code": "X01A", "timezone": "UTC"}
    )

    assert taken.status_code == 422
    assert "Y01 is used by another office" in taken.get_data(as_text=True)
    assert zone.status_code == 422
    assert "“Mars/Base” is not a time zone name" in zone.get_data(as_text=True)
    assert saved.status_code == 302
    session.expire_all()
    office = session.get(Office, county.id)
    assert (office.name, office.code, office.timezone) == (
        "某县文明办（新）",
        "X01A",
        "UTC",
    )
    [event] = events(session, "office.updated")
    assert event.detail["changes"]["code"] == ["X01", "X01A"]


# Units


def test_county_adds_and_edits_a_unit(app, session, world):
    """A new unit gets its path; a title change is kept in the title history."""
    client = sign_in(app, "county")
    added = client.post(f"{BASE}/units/new", data=UNIT_FORM)
    unit = session.scalars(select(Unit).where(Unit.code == "primary")).one()
    edited = client.post(
        f"{BASE}/units/{unit.id}/edit",
        data={
            **UNIT_FORM,
            "title_level": "county",
            "title_status": "named",
            "term_start": "2026-01-01",
            "term_end": "2028-12-31",
            "needs_leader_signoff": "y",
            "note": "2026年命名",
        },
    )

    assert added.status_code == edited.status_code == 302
    session.expire_all()
    unit = session.get(Unit, unit.id)
    assert unit.path == f"{world.offices['X01'].path}u{unit.id}/"
    assert (unit.title_level, unit.title_status) == ("county", "named")
    assert str(unit.title_term_end) == "2028-12-31" and unit.needs_leader_signoff
    change = session.scalars(select(TitleChange).where(TitleChange.unit_id == unit.id))
    change = change.one()
    assert (change.from_status, change.to_status, change.note) == (
        "none",
        "named",
        "2026年命名",
    )
    assert [e.object_id for e in events(session, "unit.created")] == [unit.id]
    [updated] = events(session, "unit.updated")
    assert updated.detail["changes"]["title_status"] == ["none", "named"]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"code": "hospital"}, "hospital is used by another unit"),
        ({"title_status": "named"}, "needs a title level"),
        ({"term_start": "2027-01-01", "term_end": "2026-01-01"}, "ends before"),
        ({"office_code": "Y01"}, "No office of your area has the code Y01"),
    ],
)
def test_bad_unit_form_is_refused_with_its_reason(app, session, world, changes, words):
    """A refused unit says why and nothing is added."""
    before = unit_count(session)
    response = sign_in(app, "county").post(
        f"{BASE}/units/new", data={**UNIT_FORM, **changes}
    )

    assert response.status_code == 422
    assert words in response.get_data(as_text=True)
    assert unit_count(session) == before


def test_moving_a_unit_with_running_work_is_refused(app, session, world):
    """The hospital's creation task runs, so it stays with its county."""
    hospital = world.units["hospital"]
    old_path = hospital.path
    response = sign_in(app, "city").post(
        f"{BASE}/units/{hospital.id}/edit",
        data={
            **UNIT_FORM,
            "name": hospital.name,
            "code": "hospital",
            "unit_type": "hospital",
            "target_level": "city",
            "title_level": "city",
            "title_status": "named",
            "office_code": "Y01",
        },
    )

    assert response.status_code == 422
    assert "The unit has 1 running procedures" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(Unit, hospital.id).path == old_path
    assert events(session, "unit.moved") == []


def test_moving_a_unit_takes_its_finished_work_along(app, session, world):
    """After its task finished, a moved unit's path, instance and tasks change."""
    unit = world.units["otherschool"]
    with transaction(session):
        instance = session.scalars(
            select(ProcessInstance).where(ProcessInstance.unit_id == unit.id)
        ).one()
        instance.status = "completed"
        for task in instance.human_tasks:
            task.state = "completed"
    response = sign_in(app, "city").post(
        f"{BASE}/units/{unit.id}/edit",
        data={**UNIT_FORM, "name": unit.name, "code": unit.code, "office_code": "X01"},
    )

    assert response.status_code == 302
    session.expire_all()
    moved = session.get(Unit, unit.id)
    new_path = f"{world.offices['X01'].path}u{unit.id}/"
    assert (moved.office_id, moved.path) == (world.offices["X01"].id, new_path)
    assert session.get(ProcessInstance, instance.id).scope_path == new_path
    paths = session.scalars(
        select(HumanTask.office_path).where(HumanTask.instance_id == instance.id)
    )
    assert set(paths) == {new_path}
    [event] = events(session, "unit.moved")
    assert event.detail["to_path"] == new_path
    # The county that now manages it sees it; the other county no longer does.
    county_page = sign_in(app, "county").get(f"{BASE}/units/")
    assert 'data-unit="otherschool"' in county_page.get_data(as_text=True)


def test_units_list_searches_and_filters(app, world):
    """Search by name or code, filter by type, level, status and office."""
    client = sign_in(app, "city")

    def codes(query: str) -> set[str]:
        page = client.get(f"{BASE}/units/?{query}").get_data(as_text=True)
        return {
            code
            for code in (*world.units, "otherschool")
            if f'data-unit="{code}"' in page
        }

    assert codes("q=医院") == {"hospital"}
    assert codes("q=bank") == {"bank"}
    assert codes("type=school") == {"school", "otherschool"}
    assert codes("level=none") == {"materials", "otherschool"}
    assert codes("status=yellow_card") == {"bank"}
    assert codes(f"office={world.offices['Y01'].id}") == {"otherschool"}
    assert codes("level=city&status=named") == {"hospital"}


# Import and export


def test_import_with_bad_rows_lists_each_and_changes_nothing(app, session, world):
    """Every problem is named by row and column; not one unit is added."""
    before = unit_count(session)
    data = workbook_bytes(
        [
            ("县实验小学", "primary", "school", "X01", "County level"),
            ("县医院分院", "otherschool", "hospital", "X01"),
            ("县图书馆", "library", "culture", "Y01"),
            ("县实验二小", "primary", "school", "X01", "Gold level"),
            ("县档案馆", "archive", "government", "X01", None, None, "Named"),
            ("", "museum", "culture", "X01", None, None, None, "2026-13-01"),
        ]
    )
    response = upload(sign_in(app, "county"), data)
    page = response.get_data(as_text=True)

    assert response.status_code == 422
    assert "Nothing was imported: 7 problems to correct" in page
    expected = [
        "Row 3, column Unit code: otherschool is used by another unit.",
        "Row 4, column Managing office code: No office of your area has the code Y01.",
        "Row 5, column Unit code: primary is already the code of row 2.",
        "Row 5, column Target title level: “Gold level” is not one of the choices.",
        "Row 6, column Held title level: A unit whose title status is Named "
        "needs a title level.",
        "Row 7, column Unit name: This field is required.",
        "Row 7, column Term start: “2026-13-01” is not a date such as 2026-01-31.",
    ]
    for line in expected:
        assert line in page, line
    assert unit_count(session) == before
    assert events(session, "unit.created") == []


def test_good_import_adds_every_unit(app, session, world):
    """A clean workbook adds all its units under their offices."""
    client = sign_in(app, "city")
    data = workbook_bytes(
        [
            ("县实验小学", "primary", "school", "X01", "County level", "", "No title"),
            (
                "另一县医院",
                "hospital2",
                "hospital",
                "Y01",
                "city",
                "county",
                "named",
                "2025-01-01",
                "2027-12-31",
                "Yes",
            ),
        ]
    )
    response = upload(client, data)

    assert response.status_code == 302
    flashed = client.get(f"{BASE}/units/").get_data(as_text=True)
    assert "Import done: 2 units added, 0 changed, 0 unchanged." in flashed
    session.expire_all()
    primary = session.scalars(select(Unit).where(Unit.code == "primary")).one()
    second = session.scalars(select(Unit).where(Unit.code == "hospital2")).one()
    assert primary.path == f"{world.offices['X01'].path}u{primary.id}/"
    assert (second.office_id, second.title_level, second.title_status) == (
        world.offices["Y01"].id,
        "county",
        "named",
    )
    assert str(second.title_term_start) == "2025-01-01"
    assert second.needs_leader_signoff and second.target_level == "city"
    created = events(session, "unit.created")
    assert {e.object_id for e in created} == {primary.id, second.id}
    assert {e.detail["via"] for e in created} == {"import"}


def test_export_then_import_changes_nothing_until_a_cell_changes(app, session, world):
    """The export imports back as unchanged; an edited cell changes that unit."""
    client = sign_in(app, "county")
    exported = client.get(f"{BASE}/units/export.xlsx")
    assert exported.status_code == 200
    assert exported.mimetype.endswith("spreadsheetml.sheet")

    again = upload(client, exported.data)
    assert again.status_code == 302
    summary = client.get(f"{BASE}/units/").get_data(as_text=True)
    assert "0 units added, 0 changed, 6 unchanged" in summary

    book = load_workbook(io.BytesIO(exported.data))
    sheet = book.worksheets[0]
    assert [cell.value for cell in sheet[1]] == list(HEADERS)
    row = next(r for r in sheet.iter_rows(min_row=2) if r[1].value == "school")
    row[0].value = "县第一中学（新校区）"
    buffer = io.BytesIO()
    book.save(buffer)
    changed = upload(client, buffer.getvalue())

    assert changed.status_code == 302
    session.expire_all()
    assert session.get(Unit, world.units["school"].id).name == "县第一中学（新校区）"
    [event] = events(session, "unit.updated")
    assert event.detail["via"] == "import"


def test_export_reads_back_in_another_language(app, session, world):
    """A workbook exported in Chinese imports for someone reading English."""
    client = sign_in(app, "county")
    exported = client.get(f"{BASE}/units/export.xlsx?lang=zh_Hans").data
    book = load_workbook(io.BytesIO(exported))
    assert book.worksheets[1].max_row > len(HEADERS)

    response = upload(sign_in(app, "county"), exported)
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"not a workbook at all", "The file is not an Excel workbook"),
        (b"PK\x03\x04broken zip", "The file is not an Excel workbook"),
        (
            workbook_bytes([("县图书馆", "library")], ("Unit name", "Unit code")),
            "The header row lacks these columns: Unit type, Managing office code",
        ),
        (workbook_bytes([]), "The workbook has no unit rows"),
    ],
)
def test_garbage_uploads_are_refused(app, session, world, data, words):
    """A file that is no usable workbook is refused with the reason."""
    before = unit_count(session)
    response = upload(sign_in(app, "county"), data)

    assert response.status_code == 422
    assert words in response.get_data(as_text=True)
    assert unit_count(session) == before


def test_template_has_the_header_row_and_an_explanation(app, world):
    """The template's first sheet is the header row; the second explains it."""
    response = sign_in(app, "county").get(f"{BASE}/units/template.xlsx")
    book = load_workbook(io.BytesIO(response.data))
    units, explanation = book.worksheets

    assert [cell.value for cell in units[1]] == list(HEADERS)
    assert units.max_row == 1
    texts = [row[0] for row in explanation.iter_rows(values_only=True) if row[0]]
    assert "How to fill in the units sheet" in texts
    assert set(HEADERS) <= set(texts)


# Accounts


def test_county_adds_a_liaison_who_signs_in_with_the_shown_password(
    app, session, world
):
    """The password is shown once; the new liaison signs in with it."""
    response = sign_in(app, "county").post(f"{BASE}/users/new", data=user_form())
    page = response.get_data(as_text=True)

    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    password = shown_password(page)
    assert len(password) >= 12
    user = session.scalars(select(User).where(User.username == "school2")).one()
    assert (user.unit_id, user.roles, user.email) == (
        world.units["school"].id,
        ["liaison"],
        "liaison@school.example",
    )
    sign_in(app, "school2", password)
    [event] = [e for e in events(session, "user.created") if e.object_id == user.id]
    assert event.actor_id == world.users["county"].id
    assert password not in str(event.detail)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"roles": ["reviewer"]}, "Reviewers and office administrators need an office"),
        ({"unit_code": ""}, "Liaisons and unit leaders need a unit"),
        ({"roles": ["liaison", "reviewer"]}, "Office roles and unit roles do not go"),
        ({"office_code": "X01"}, "A person belongs to an office or to a unit"),
        ({"roles": ["admin"], "unit_code": ""}, "is not a valid choice"),
        ({"unit_code": "otherschool"}, "No unit of your area has the code"),
        (
            {"roles": ["reviewer"], "unit_code": "", "office_code": "Y01"},
            "No office of your area has the code Y01",
        ),
        ({"username": "county"}, "The user name county is taken"),
        ({"email": "not-an-address"}, "is not an e-mail address"),
    ],
)
def test_roles_must_fit_the_scope_and_the_subtree(app, session, world, changes, words):
    """Roles fit an office or a unit of the county's own area; admin is not offered."""
    before = session.scalar(select(func.count()).select_from(User))
    response = sign_in(app, "county").post(
        f"{BASE}/users/new", data=user_form(**changes)
    )

    assert response.status_code == 422
    assert words in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(User)) == before


def test_office_admin_cannot_grant_admin_through_the_service(session, world):
    """Even bypassing the form, an office administrator grants no admin role."""
    with pytest.raises(InvalidInput) as refused:
        from app.services import user_admin

        user_admin.update_user(
            session,
            world.users["county"],
            world.users["county_b"].id,
            {
                "display_name": "county_b",
                "roles": ["admin", "reviewer"],
                "office_code": "X01",
            },
        )
    assert refused.value.details["kinds"]["roles"]["kind"] == "admin_grant"


def test_edit_changes_roles_scope_and_email(app, session, world):
    """The city moves a reviewer to the other county and makes them its admin."""
    reviewer = world.users["county_b"]
    response = sign_in(app, "city").post(
        f"{BASE}/users/{reviewer.id}/edit",
        data={
            "display_name": "乙审核员",
            "email": "b@county.example",
            "roles": ["reviewer", "office_admin"],
            "office_code": "Y01",
            "unit_code": "",
        },
    )

    assert response.status_code == 302
    session.expire_all()
    user = session.get(User, reviewer.id)
    assert (user.office_id, user.roles, user.email) == (
        world.offices["Y01"].id,
        ["office_admin", "reviewer"],
        "b@county.example",
    )
    [event] = events(session, "user.updated")
    assert event.detail["changes"]["office_code"] == ["X01", "Y01"]


def test_reset_password_ends_the_old_one(app, session, world):
    """After a reset the old password fails and the shown one signs in."""
    target = world.users["county_b"]
    response = sign_in(app, "county").post(f"{BASE}/users/{target.id}/password")
    password = shown_password(response.get_data(as_text=True))

    assert response.headers["Cache-Control"] == "no-store"
    refused = try_sign_in(app, "county_b", PASSWORD)
    assert "Wrong user name or password" in refused.get_data(as_text=True)
    sign_in(app, "county_b", password)
    [event] = events(session, "user.password_reset")
    assert event.object_id == target.id and password not in str(event.detail)


def test_deactivated_account_cannot_sign_in_until_reactivated(app, session, world):
    """Sign-in is refused with a clear message; reactivation lets it in again."""
    target = world.users["county_b"]
    submit(session, world, "school")
    task = task_for(session, target, "school")
    tasks.claim(session, target, task.id)
    client = sign_in(app, "county")
    deactivated = client.post(f"{BASE}/users/{target.id}/active", data={"active": "0"})

    assert deactivated.status_code == 302
    refused = try_sign_in(app, "county_b", PASSWORD)
    assert refused.status_code == 200
    assert "This account is disabled" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(HumanTask, task.id).claimed_by_id is None
    [event] = events(session, "user.deactivated")
    assert event.detail["released_tasks"] == 1

    g.pop("_login_user", None)
    client.post(f"{BASE}/users/{target.id}/active", data={"active": "1"})
    sign_in(app, "county_b")
    assert len(events(session, "user.reactivated")) == 1


def test_a_signed_in_account_is_signed_out_when_deactivated(app, world):
    """An open session of a deactivated account stops working at once."""
    reviewer = sign_in(app, "county_b")
    assert reviewer.get("/inbox/").status_code == 200
    sign_in(app, "county").post(
        f"{BASE}/users/{world.users['county_b'].id}/active", data={"active": "0"}
    )
    g.pop("_login_user", None)

    assert reviewer.get("/inbox/").status_code == 302


def test_nobody_deactivates_themselves_or_drops_their_admin_role(app, session, world):
    """The county's own account stays active and keeps its administrator role."""
    county = world.users["county"]
    client = sign_in(app, "county")
    deactivate = client.post(f"{BASE}/users/{county.id}/active", data={"active": "0"})
    demote = client.post(
        f"{BASE}/users/{county.id}/edit",
        data={"display_name": "county", "roles": ["reviewer"], "office_code": "X01"},
    )
    admin = world.users["admin"]
    admin_demote = sign_in(app, "admin").post(
        f"{BASE}/users/{admin.id}/edit",
        data={"display_name": "admin", "roles": ["reviewer"], "office_code": "P01"},
    )

    assert deactivate.status_code == 403
    assert demote.status_code == 422
    assert "cannot remove your own administrator role" in demote.get_data(as_text=True)
    assert admin_demote.status_code == 422
    session.expire_all()
    assert session.get(User, county.id).active
    assert session.get(User, county.id).roles == ["office_admin", "reviewer"]
    assert session.get(User, admin.id).roles == ["admin"]


def test_users_list_per_office_and_unit(app, world):
    """The list narrows to an office's subtree or a unit's accounts."""
    client = sign_in(app, "city")
    unit_page = client.get(f"{BASE}/users/?unit={world.units['hospital'].id}")
    office_page = client.get(f"{BASE}/users/?office={world.offices['Y01'].id}")
    unit_page = unit_page.get_data(as_text=True)
    office_page = office_page.get_data(as_text=True)

    assert 'data-user="hospital"' in unit_page
    assert 'data-user="hospital_leader"' in unit_page
    assert 'data-user="school"' not in unit_page
    assert 'data-user="county2"' in office_page
    assert 'data-user="otherschool"' in office_page
    assert 'data-user="county"' not in office_page


# Audit


def test_recent_changes_show_on_the_start_page_within_the_subtree(app, session, world):
    """Changes in the other county show to the city but not to this county."""
    city = sign_in(app, "city")
    city.post(
        f"{BASE}/units/new",
        data={
            **UNIT_FORM,
            "name": "另一县图书馆",
            "code": "library",
            "office_code": "Y01",
        },
    )
    city.post(
        f"{BASE}/offices/{world.offices['X01'].id}/edit",
        data={"name": "某县文明办", "code": "X01", "timezone": "Asia/Harbin"},
    )
    city_page = city.get(f"{BASE}/").get_data(as_text=True)
    county_page = sign_in(app, "county").get(f"{BASE}/").get_data(as_text=True)

    assert 'data-action="unit.created"' in city_page and "另一县图书馆" in city_page
    assert 'data-action="office.updated"' in county_page
    assert "另一县图书馆" not in county_page


def test_long_unit_lists_page_and_keep_their_filters(app, session, world):
    """With more units than a page holds, the pager leads on with the filter kept."""
    with transaction(session):
        for number in range(55):
            organisation.create_unit(
                session,
                name=f"分页单位{number:02d}",
                code=f"page{number:02d}",
                unit_type="enterprise",
                office=world.offices["X01"],
            )
    client = sign_in(app, "county")

    first = client.get("/admin/organisation/units/?type=enterprise").get_data(
        as_text=True
    )
    assert "Page 1 of 2" in first
    assert 'rel="next"' in first and "type=enterprise" in first.split('rel="next"')[0]
    second = client.get("/admin/organisation/units/?type=enterprise&page=2")
    assert "Page 2 of 2" in second.get_data(as_text=True)
    titles = client.get("/units/?type=enterprise&lang=en").get_data(as_text=True)
    assert "Page 1 of 2" in titles
