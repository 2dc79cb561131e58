"""Browser flow: the county imports units, fixes a bad row, and adds a liaison."""

from __future__ import annotations

import uuid

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from app.extensions import db
from app.models import Unit
from tests.e2e.conftest import assert_clean, screenshot, sign_in

pytestmark = pytest.mark.browser

BASE = "/admin/organisation"


def stored_units(live_app, codes: list[str]) -> dict[str, str]:
    """Return the stored units among the codes, by code, with their path."""
    with live_app.app_context():
        rows = db.session.execute(
            select(Unit.code, Unit.path).where(Unit.code.in_(codes))
        ).all()
        db.session.remove()
    return dict(rows)


def fill_template(template_path, target_path, rows: list[tuple]) -> None:
    """Write the rows below the downloaded template's header row."""
    book = load_workbook(template_path)
    sheet = book.worksheets[0]
    for row in rows:
        sheet.append(list(row))
    book.save(target_path)


def test_county_imports_units_fixes_a_bad_row_and_adds_a_liaison(
    page, page_log, live_server, live_app, demo_password, tmp_path
):
    """A bad row is named and nothing imports; fixed, both units import."""
    suffix = uuid.uuid4().hex[:6]
    codes = [f"library-{suffix}", f"museum-{suffix}"]
    good = ("县图书馆", codes[0], "culture", "X01", None, None, None, "2026-01-01")
    bad = ("县博物馆", codes[1], "culture", "X01", None, None, None, None, "2026-02-30")
    sign_in(page, live_server, "county", demo_password)

    page.click(f"nav a[href='{BASE}/']")
    page.click(f".org-nav a[href='{BASE}/units/import']")
    with page.expect_download() as download:
        page.click("#download-template")
    template = tmp_path / "template.xlsx"
    download.value.save_as(template)
    workbook = tmp_path / "units.xlsx"
    fill_template(template, workbook, [good, bad])
    page.set_input_files("#workbook", str(workbook))
    page.click("#import-submit")

    problem = page.locator("#import-problems li[data-row='3'][data-field='term_end']")
    assert "2026-02-30" in problem.inner_text()
    assert page.locator("#import-problems li").count() == 1
    assert stored_units(live_app, codes) == {}
    screenshot(page, "organisation-import-refused")
    # The refused import answered 422 on purpose.
    page_log.failed_requests = [
        line for line in page_log.failed_requests if not line.startswith("422 ")
    ]

    fill_template(template, workbook, [good, (*bad[:8], "2028-12-31")])
    page.set_input_files("#workbook", str(workbook))
    page.click("#import-submit")
    page.wait_for_selector(f"tr[data-unit='{codes[1]}']")
    assert set(stored_units(live_app, codes)) == set(codes)
    screenshot(page, "organisation-units-imported")

    page.click(f"tr[data-unit='{codes[1]}'] a[data-action='add-account']")
    assert page.input_value("#unit_code") == codes[1]
    assert page.is_checked("input[name='roles'][value='liaison']")
    username = f"museum_{suffix}"
    page.fill("#username", username)
    page.fill("#display_name", "县博物馆联络员")
    page.click("#user-submit")
    password = page.inner_text("#new-password")
    screenshot(page, "organisation-account-added")

    sign_in(page, live_server, username, password)
    assert page.inner_text(".site-tools__user") == "县博物馆联络员"
    assert_clean(page_log)
