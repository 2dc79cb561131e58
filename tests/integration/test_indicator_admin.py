"""Indicator system administration: versions, the tree editor, checks, Excel, rights."""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from app.models import AuditEvent, Cycle, Indicator, IndicatorSystem
from app.services import cycle_pages, indicator_admin, indicator_tree
from app.services.base import transaction
from app.services.indicator_rules import (
    CategorySpec,
    IndicatorSpec,
    SettingsSpec,
    publication_problems,
)
from app.services.indicator_values import indicator_spec, settings_of, tree_of
from app.services.indicator_workbook import COLUMNS
from app.services.indicators import catalog_for_cycle
from processes.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.factories import build_world, make_cycle, sign_in

HEADER = [column.header for column in COLUMNS]
SETTINGS_FORM = {
    "name": "某市文明单位测评体系",
    "base_points": "100",
    "bonus_cap": "10",
    "model_threshold": "95",
    "keep_threshold": "85",
    "late_points_per_day": "1",
    "late_points_cap": "5",
}


@pytest.fixture
def world(session, app):
    """The sample organisation with its cycle opened but not issued."""
    return build_world(session, Path(app.config["WENMING_UPLOAD_FOLDER"]), issue=False)


def city_draft(session, world, code: str = "CITY", copy: bool = True):
    """Create a draft of the city office, copied from the province's system."""
    with transaction(session):
        return indicator_admin.create_system(
            session,
            world.users["city"],
            code=code,
            office=world.offices["C01"],
            settings=SettingsSpec(name="某市文明单位测评体系"),
            start_from=world.system if copy else None,
        )


def publish(session, user, system) -> None:
    """Publish a version as the user."""
    with transaction(session):
        indicator_admin.publish(session, user, system.id)


def item(session, system, code: str) -> Indicator:
    """Return the category or indicator with the code in a version."""
    return session.scalars(
        select(Indicator).where(
            Indicator.system_id == system.id, Indicator.code == code
        )
    ).one()


def indicator_form(category: Indicator, **changes) -> dict:
    """Return a complete indicator form for the category, with changes."""
    data = {
        "category_id": str(category.id),
        "code": "A4",
        "name": "创建宣传氛围",
        "points": "5",
        "per_item_points": "",
        "method": "materials",
        "min_photos": "1",
        "min_documents": "0",
        "min_explanation_chars": "0",
        "max_explanation_chars": "500",
        "guidance": "至少1张照片",
    }
    data.update(changes)
    return data


def workbook(*rows, header=HEADER) -> bytes:
    """Return an .xlsx file with the indicator sheet's header and the rows."""
    book = Workbook()
    sheet = book.active
    sheet.title = "指标"
    sheet.append(header)
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def upload(client, system, content: bytes, filename: str = "tree.xlsx"):
    """Send a workbook to a draft's import form."""
    return client.post(
        f"/admin/indicators/{system.id}/import",
        data={"workbook": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )


def actions(session, system) -> list[str]:
    """Return the audit actions recorded about a version, oldest first."""
    query = (
        select(AuditEvent.action)
        .where(
            AuditEvent.object_type == "indicator_system",
            AuditEvent.object_id == system.id,
        )
        .order_by(AuditEvent.id)
    )
    return list(session.scalars(query))


SMALL_TREE = (
    ("A", "组织领导", None, "基础", 100),
    ("A1", "班子专题研究", "A", None, 60, None, "材料审核", "否", 2, 2, 0, 500, "纪要"),
    ("A2", "窗口服务", "A", None, 40, None, "实地考察", "是"),
    ("F", "加分项", None, "加分"),
    ("F1", "媒体报道", "F", None, 4, 1),
    ("G", "扣分项", None, "扣分"),
    ("G1", "检查发现问题", "G", None, 1, 1),
    ("V", "一票否决", None, "否决"),
    ("V1", "重大安全事故", "V"),
)


def test_city_copies_the_province_system_into_a_draft_of_its_own(app, session, world):
    """A new system may start from a version above; it is version 1, a draft."""
    client = sign_in(app, "city")
    data = {
        **SETTINGS_FORM,
        "code": "CITY-2027",
        "office_id": str(world.offices["C01"].id),
        "start_from": str(world.system.id),
    }

    response = client.post("/admin/indicators/new", data=data)

    system = session.scalars(
        select(IndicatorSystem).where(IndicatorSystem.code == "CITY-2027")
    ).one()
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/admin/indicators/{system.id}")
    assert (system.version, system.published, system.office.code) == (1, False, "C01")
    assert system.created_by.username == "city"
    assert tree_of(system) == tree_of(world.system)
    assert actions(session, system) == ["indicator_system.created"]
    page = client.get(f"/admin/indicators/{system.id}").get_data(as_text=True)
    assert "Every check passes" in page
    assert 'id="publish"' in page


def test_a_new_system_needs_a_free_code(app, session, world):
    """The code of an existing system is refused with the reason on the field."""
    client = sign_in(app, "city")
    data = {
        **SETTINGS_FORM,
        "code": world.system.code,
        "office_id": str(world.offices["C01"].id),
        "start_from": "0",
    }

    response = client.post("/admin/indicators/new", data=data)

    assert response.status_code == 422
    assert f"the code {world.system.code} is taken" in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(IndicatorSystem)) == 1


def test_the_list_groups_versions_with_their_cycles(app, session, world):
    """Each code lists its versions: state, who made them, how many cycles use it."""
    draft = city_draft(session, world)
    client = sign_in(app, "city")

    page = client.get("/admin/indicators/").get_data(as_text=True)

    assert 'data-code="WMDW"' in page and 'data-code="CITY"' in page
    assert "read-only for your office" in page
    row = page[page.index(f'data-system-id="{world.system.id}"') :]
    assert '<td class="num">1</td>' in row[: row.index("</tr>")]
    assert f'data-system-id="{draft.id}" data-version="1"' in page
    assert 'data-published="false"' in page


def test_new_version_copies_the_latest_into_a_draft(app, session, world):
    """A new version has the next number, the same tree and settings, unpublished."""
    first = city_draft(session, world)
    publish(session, world.users["city"], first)
    client = sign_in(app, "city")

    response = client.post(f"/admin/indicators/{first.id}/versions")

    second = session.scalars(
        select(IndicatorSystem).where(
            IndicatorSystem.code == "CITY", IndicatorSystem.version == 2
        )
    ).one()
    assert response.headers["Location"].endswith(f"/admin/indicators/{second.id}")
    assert not second.published
    assert tree_of(second) == tree_of(first)
    assert settings_of(second) == settings_of(first)
    assert actions(session, second) == ["indicator_system.version_created"]

    again = client.post(f"/admin/indicators/{first.id}/versions", follow_redirects=True)
    assert "already has a draft" in again.get_data(as_text=True)
    count = select(func.count()).where(IndicatorSystem.code == "CITY")
    assert session.scalar(count) == 2


def test_the_tree_editor_adds_changes_moves_and_deletes(app, session, world):
    """Categories and indicators are added, edited, reordered and removed."""
    draft = city_draft(session, world)
    client = sign_in(app, "city")
    base = f"/admin/indicators/{draft.id}"
    category_a = item(session, draft, "A")

    added = client.post(f"{base}/indicators/new", data=indicator_form(category_a))
    a4 = item(session, draft, "A4")
    edited = client.post(
        f"{base}/indicators/{a4.id}",
        data=indicator_form(category_a, points="3", office_only="y"),
    )
    moved = client.post(f"{base}/items/{a4.id}/move", data={"direction": "up"})
    category = client.post(
        f"{base}/categories/new",
        data={"code": "H", "name": "特色创建", "kind": "bonus"},
    )

    assert {added.status_code, edited.status_code, moved.status_code} == {302}
    assert category.status_code == 302
    session.expire_all()
    tree = tree_of(draft)
    codes = [i.code for i in tree[0].indicators]
    assert codes == ["A1", "A2", "A4", "A3"]
    assert tree[0].indicators[2].points == Decimal("3.00")
    assert tree[0].indicators[2].office_only
    assert (tree[-1].code, tree[-1].kind, tree[-1].indicators) == ("H", "bonus", [])

    b = item(session, draft, "B")
    client.post(f"{base}/items/{b.id}/move", data={"direction": "up"})
    client.post(f"{base}/items/{b.id}/delete")
    session.expire_all()
    assert [c.code for c in tree_of(draft)][:3] == ["A", "C", "D"]
    assert (
        session.scalar(
            select(func.count()).where(
                Indicator.system_id == draft.id, Indicator.code.like("B%")
            )
        )
        == 0
    )
    positions = [i.position for i in draft.indicators]
    assert positions == list(range(1, len(positions) + 1))


def test_an_edit_with_a_code_already_used_is_refused_on_the_field(app, session, world):
    """Codes are unique within a version; the form says which field is wrong."""
    draft = city_draft(session, world)
    client = sign_in(app, "city")

    url = f"/admin/indicators/{draft.id}/indicators/new"
    category = item(session, draft, "A")
    negative = client.post(url, data=indicator_form(category, points="-1"))
    taken = client.post(url, data=indicator_form(category, code="B1"))

    assert negative.status_code == taken.status_code == 422
    assert 'id="points-errors"' in negative.get_data(as_text=True)
    page = taken.get_data(as_text=True)
    errors = page[page.index('id="code-errors"') :]
    assert "another item of this version has the code B1" in errors[:300]
    with pytest.raises(InvalidInput, match="another item of this version"):
        indicator_tree.add_indicator(
            session,
            world.users["city"],
            draft.id,
            category.id,
            IndicatorSpec(code="B1", name="重复"),
        )
    session.rollback()


def test_a_category_gives_its_kind_to_its_indicators(app, session, world):
    """Changing a category's kind changes the kind of every indicator in it."""
    draft = city_draft(session, world)
    client = sign_in(app, "city")
    category = item(session, draft, "F")

    client.post(
        f"/admin/indicators/{draft.id}/categories/{category.id}",
        data={"code": "F", "name": "加分项", "kind": "base"},
    )

    session.expire_all()
    assert {item(session, draft, code).kind for code in ("F1", "F2")} == {"base"}


def _set_points(session, world, draft, code: str, points: str, per_item=None):
    indicator = item(session, draft, code)
    spec = tree_of(draft)
    found = next(i for c in spec for i in c.indicators if i.code == code)
    found.points = Decimal(points)
    found.per_item_points = None if per_item is None else Decimal(per_item)
    with transaction(session):
        indicator_tree.update_indicator(
            session,
            world.users["city"],
            draft.id,
            indicator.id,
            found,
            indicator.parent_id,
        )


def _set(session, world, draft, **settings):
    values = settings_of(draft)
    for name, value in settings.items():
        setattr(values, name, Decimal(value))
    with transaction(session):
        indicator_admin.update_settings(session, world.users["city"], draft.id, values)


CHECKS = [
    (
        lambda s, w, d: _set_points(s, w, d, "A1", "6"),
        "the base indicators add up to 101 points, not the 100 base points",
    ),
    (
        lambda s, w, d: _set_points(s, w, d, "A1", "0"),
        "base indicator A1 has no points",
    ),
    (
        lambda s, w, d: _set_points(s, w, d, "F1", "0"),
        "bonus indicator F1 has no points: enter the most it adds",
    ),
    (
        lambda s, w, d: _set_points(s, w, d, "F2", "4", per_item="5"),
        "bonus indicator F2 adds 5 per item, more than its 4 points",
    ),
    (
        lambda s, w, d: _set_points(s, w, d, "G1", "1"),
        "deduction item G1 needs per-item points",
    ),
    (
        lambda s, w, d: _set_points(s, w, d, "V1", "3"),
        "veto item V1 carries points",
    ),
    (
        lambda s, w, d: _set(s, w, d, bonus_cap="0"),
        "the bonus cap must be more than 0",
    ),
    (
        lambda s, w, d: _set(s, w, d, keep_threshold="95"),
        "the threshold to keep the title (95) must be below the model unit",
    ),
    (
        lambda s, w, d: _set(s, w, d, model_threshold="111"),
        "the model unit threshold (111) is above the best possible score of 110",
    ),
]


@pytest.mark.parametrize(("change", "message"), CHECKS)
def test_checks_refuse_publication_with_their_message(
    app, session, world, change, message
):
    """Each check names what is wrong; publishing then changes nothing."""
    draft = city_draft(session, world)
    change(session, world, draft)
    client = sign_in(app, "city")

    page = client.get(f"/admin/indicators/{draft.id}").get_data(as_text=True)
    response = client.post(
        f"/admin/indicators/{draft.id}/publish", follow_redirects=True
    )

    assert message in page
    assert "was not published" in response.get_data(as_text=True)
    session.expire_all()
    assert not session.get(IndicatorSystem, draft.id).published


def test_checks_find_repeated_codes_and_empty_categories():
    """Two items with one code, or a category without indicators, are named."""
    tree = [
        CategorySpec(
            "A", "组织领导", "base", [IndicatorSpec("A1", "一", Decimal(100))]
        ),
        CategorySpec("B", "重复", "bonus", [IndicatorSpec("A1", "二", Decimal(5))]),
        CategorySpec("C", "空类别", "deduction"),
    ]

    messages = [str(p) for p in publication_problems(SettingsSpec(name="x"), tree)]

    assert "code A1 is used 2 times; codes must be unique" in messages
    assert "category C has no indicators" in messages


def test_publishing_makes_the_version_usable_and_frozen(app, session, world):
    """A published version is offered to cycles and refuses every later change."""
    draft = city_draft(session, world)
    client = sign_in(app, "city")

    response = client.post(f"/admin/indicators/{draft.id}/publish")

    session.expire_all()
    assert response.status_code == 302
    assert draft.published and draft.published_by.username == "city"
    usable = cycle_pages.usable_systems(session, [world.offices["X01"]])
    assert draft in usable
    a1 = item(session, draft, "A1")
    base = f"/admin/indicators/{draft.id}"
    form = indicator_form(item(session, draft, "A"), code="A1", points="4")
    assert client.post(f"{base}/indicators/{a1.id}", data=form).status_code == 409
    assert client.post(f"{base}/items/{a1.id}/delete").status_code == 409
    assert client.post(f"{base}/delete").status_code == 409
    assert upload(client, draft, workbook(*SMALL_TREE)).status_code == 409
    with pytest.raises(Conflict, match="published and never changes"):
        indicator_tree.delete_item(session, world.users["city"], draft.id, a1.id)
    session.rollback()
    assert item(session, draft, "A1").points == Decimal("5.00")
    assert actions(session, draft) == [
        "indicator_system.created",
        "indicator_system.published",
    ]


def test_a_cycle_keeps_its_version_after_a_new_one_is_published(app, session, world):
    """The open cycle scores by version 1 even when version 2 changes points."""
    province = world.users["province"]
    with transaction(session):
        second = indicator_admin.new_version(session, province, world.system.id)
    a1, a2 = item(session, second, "A1"), item(session, second, "A2")
    for indicator, points in ((a1, "7"), (a2, "3")):
        spec = indicator_spec(indicator)
        spec.points = Decimal(points)
        with transaction(session):
            indicator_tree.update_indicator(
                session, province, second.id, indicator.id, spec, indicator.parent_id
            )
    publish(session, province, second)
    with transaction(session):
        later = make_cycle(session, world.offices["C01"], second, name="2027年度")

    session.expire_all()
    kept = session.get(Cycle, world.cycle.id)
    assert kept.indicator_system_id == world.system.id
    points = {i.code: i.points for i in catalog_for_cycle(session, kept.id).indicators}
    assert points["A1"] == Decimal("5.00")
    later_points = {
        i.code: i.points for i in catalog_for_cycle(session, later.id).indicators
    }
    assert (later_points["A1"], later_points["A2"]) == (Decimal("7"), Decimal("3"))


def test_a_draft_never_opens_a_cycle(app, session, world, cli):
    """Cycles take published versions only, from the service and the command line."""
    draft = city_draft(session, world, code="DRAFTONLY")

    with pytest.raises(InvalidInput, match="is a draft"):
        make_cycle(session, world.offices["C01"], draft, name="草稿周期")
    session.rollback()
    result = cli.invoke(
        args=[
            "cycle", "open", "--office", "C01", "--name", "草稿周期",
            "--indicator-system", "DRAFTONLY",
            "--submission-due", "2030-10-31T18:00:00+08:00",
            "--county-review-due", "2030-11-15T18:00:00+08:00",
            "--city-review-due", "2030-11-25T18:00:00+08:00",
            "--province-review-due", "2030-11-30T18:00:00+08:00",
        ]
    )  # fmt: skip

    assert result.exit_code != 0
    assert "no published indicator system has the code 'DRAFTONLY'" in result.output
    names = session.scalars(select(Cycle.name)).all()
    assert names == [world.cycle.name]


def test_import_with_bad_rows_names_each_row_and_changes_nothing(app, session, world):
    """Every bad row is listed by row and column; the draft keeps its tree."""
    draft = city_draft(session, world)
    before = tree_of(draft)
    client = sign_in(app, "city")
    content = workbook(
        ("A", "组织领导", None, "基础"),
        ("A1", "班子专题研究", "A", None, "五"),
        ("A1", "重复编码", "A", None, 5),
        ("B1", "没有类别", "Z", None, 5),
        ("C", "未知性质", None, "其他"),
        ("A3", "方式不对", "A", None, 5, None, "电话"),
        ("A4", "", "A", None, 5, None, None, "也许", 1.5),
    )

    response = upload(client, draft, content)

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    for message in (
        "row 3, column 分值: enter a number",
        "row 4, column 编码: code A1 is already used in row 3",
        "row 5, column 所属类别: no category Z above this row",
        "row 6, column 性质: choose one of 基础、加分、扣分、否决",
        "row 7, column 测评方式: choose one of 材料审核、实地考察、问卷调查、网络查看",
        "row 8, column 名称: enter a name",
        "row 8, column 仅由文明办评分: enter 是 or 否",
        "row 8, column 最少照片数: enter a whole number",
    ):
        assert message in page
    assert "Nothing was imported: the workbook has 8 problems." in page
    session.expire_all()
    assert tree_of(draft) == before
    assert "indicator_system.imported" not in actions(session, draft)


def test_a_good_import_replaces_the_whole_tree(app, session, world):
    """A valid workbook replaces the draft's tree in one step."""
    draft = city_draft(session, world)
    client = sign_in(app, "city")

    response = upload(client, draft, workbook(*SMALL_TREE))

    assert response.status_code == 302
    session.expire_all()
    tree = tree_of(draft)
    assert [(c.code, c.kind) for c in tree] == [
        ("A", "base"),
        ("F", "bonus"),
        ("G", "deduction"),
        ("V", "veto"),
    ]
    a1, a2 = tree[0].indicators
    assert (a1.min_photos, a1.min_documents, a1.guidance) == (2, 2, "纪要")
    assert (a2.method, a2.office_only) == ("on_site", True)
    assert tree[1].indicators[0].per_item_points == Decimal("1.00")
    assert indicator_admin.check_version(draft) == []
    assert actions(session, draft)[-1] == "indicator_system.imported"


def test_export_then_import_gives_the_same_tree(app, session, world):
    """A version exported to Excel imports into an empty draft unchanged."""
    draft = city_draft(session, world, copy=False)
    client = sign_in(app, "city")

    exported = client.get(f"/admin/indicators/{world.system.id}.xlsx")
    response = upload(client, draft, exported.data)

    assert exported.status_code == 200
    assert exported.mimetype.endswith("spreadsheetml.sheet")
    assert response.status_code == 302
    session.expire_all()
    assert tree_of(draft) == tree_of(world.system)


def test_the_template_opens_in_openpyxl_with_its_header(app, session, world):
    """The template has the header row and an explanatory sheet."""
    client = sign_in(app, "county")

    response = client.get("/admin/indicators/template.xlsx")

    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["指标", "说明"]
    assert [cell.value for cell in book["指标"][1]] == HEADER
    assert book["指标"].max_row == 1
    keys = [row[1] for row in book["说明"].iter_rows(min_row=5, values_only=True)]
    assert keys == [column.key for column in COLUMNS]


def _broken_workbook() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook><broken")
    return buffer.getvalue()


def _broken_sheet() -> bytes:
    """Return a real workbook whose indicator sheet is cut off half-way."""
    source = zipfile.ZipFile(io.BytesIO(workbook(*SMALL_TREE)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for info in source.infolist():
            body = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = body[: len(body) // 2]
            archive.writestr(info, body)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"not a workbook at all", "tree.xlsx", "the file is not an Excel workbook"),
        (b"0" * (2 * 1024 * 1024 + 1), "big.xlsx", "the file is larger than 2 MB"),
        (_broken_workbook(), "tree.xlsx", "could not be read as an Excel workbook"),
        (_broken_sheet(), "tree.xlsx", "could not be read as an Excel workbook"),
        (b"code,name", "tree.csv", "Upload an Excel workbook ending in .xlsx."),
        (
            workbook(("A", "组织领导"), header=["编码", "名称"]),
            "tree.xlsx",
            "the first row lacks the columns 所属类别、性质",
        ),
    ],
)
def test_an_upload_that_is_no_workbook_is_refused(
    app, session, world, content, filename, message
):
    """Garbage, damaged files, other types and foreign sheets are refused plainly."""
    draft = city_draft(session, world)
    client = sign_in(app, "city")

    response = upload(client, draft, content, filename)

    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    session.expire_all()
    assert tree_of(draft) == tree_of(world.system)


def test_who_may_see_and_change_indicator_systems(app, session, world):
    """Offices below read, other branches see nothing, reviewers change nothing."""
    draft = city_draft(session, world)
    form = {**SETTINGS_FORM, "code": "X", "office_id": str(world.offices["X01"].id)}

    county = sign_in(app, "county")
    assert county.get(f"/admin/indicators/{draft.id}").status_code == 200
    assert county.post(f"/admin/indicators/{draft.id}/publish").status_code == 403
    assert (
        county.post(f"/admin/indicators/{world.system.id}/versions").status_code == 403
    )
    assert county.post("/admin/indicators/new", data=form).status_code == 302

    with transaction(session):
        county_draft = indicator_admin.create_system(
            session,
            world.users["county"],
            code="COUNTY",
            office=world.offices["X01"],
            settings=SettingsSpec(name="县级体系"),
        )
    other_branch = sign_in(app, "county2")
    assert other_branch.get(f"/admin/indicators/{county_draft.id}").status_code == 404

    reviewer = sign_in(app, "county_b")
    assert reviewer.get("/admin/indicators/").status_code == 200
    assert reviewer.get("/admin/indicators/new").status_code == 403
    assert (
        reviewer.post(f"/admin/indicators/{county_draft.id}/delete").status_code == 403
    )

    liaison = sign_in(app, "school")
    assert liaison.get("/admin/indicators/").status_code == 403
    assert liaison.get(f"/admin/indicators/{draft.id}.xlsx").status_code == 403

    with pytest.raises(Forbidden):
        indicator_admin.publish(session, world.users["county_b"], draft.id)
    session.rollback()
    admin = sign_in(app, "admin")
    assert admin.post(f"/admin/indicators/{draft.id}/publish").status_code == 302
    session.expire_all()
    assert draft.published
    with pytest.raises(NotFound):
        indicator_admin.visible_system(session, world.users["county2"], county_draft.id)


def test_every_change_leaves_an_audit_event(app, session, world):
    """Creating, editing, moving, importing, publishing and deleting are recorded."""
    city = world.users["city"]
    draft = city_draft(session, world)
    a1 = item(session, draft, "A1")
    with transaction(session):
        indicator_tree.move_item(session, city, draft.id, a1.id, "down")
    with transaction(session):
        indicator_tree.add_category(
            session, city, draft.id, CategorySpec("H", "特色", "bonus")
        )
    client = sign_in(app, "city")
    upload(client, draft, workbook(*SMALL_TREE))
    client.post(f"/admin/indicators/{draft.id}/publish")
    client.post(f"/admin/indicators/{draft.id}/versions")
    second = session.scalars(
        select(IndicatorSystem).where(IndicatorSystem.version == 2)
    ).one()
    second_id = second.id
    client.post(f"/admin/indicators/{second_id}/delete")

    assert actions(session, draft) == [
        "indicator_system.created",
        "indicator_system.item_moved",
        "indicator_system.category_added",
        "indicator_system.imported",
        "indicator_system.published",
    ]
    assert [a.split(".")[1] for a in actions(session, second)] == [
        "version_created",
        "deleted",
    ]
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "indicator_system.deleted")
    ).one()
    assert event.actor_id == city.id
    assert event.detail["code"] == "CITY" and event.detail["version"] == 2
    assert session.get(IndicatorSystem, second_id) is None
