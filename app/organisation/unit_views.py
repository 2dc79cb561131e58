"""Unit pages of the organisation area: the list, the unit form, import, export."""

from __future__ import annotations

import io
import logging

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from wtforms import SelectChoice

from app.extensions import db
from app.models import Unit, utcnow
from app.models.organisation import TITLE_LEVELS, TITLE_STATUSES
from app.organisation import workbook
from app.organisation.forms import ImportForm, UnitForm
from app.organisation.messages import error_text, problem_text, show_on_form
from app.services import organisation_admin, unit_admin, unit_import
from app.services.base import transaction
from processes.errors import InvalidInput

logger = logging.getLogger(__name__)

bp = Blueprint("units", __name__, url_prefix="/units")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILTER_ARGS = ("office", "q", "type", "level", "status")


@bp.get("/")
@login_required
def index() -> str:
    """List the units of the subtree, or of one office, with search and filters."""
    filters = unit_admin.read_filters(request.args)
    listing = unit_admin.list_units(db.session, current_user, filters)

    return render_template(
        "organisation/units.html",
        listing=listing,
        offices=organisation_admin.managed_offices(db.session, current_user),
        levels=TITLE_LEVELS,
        statuses=TITLE_STATUSES,
        filter_args=_filter_args(),
    )


def _filter_args() -> dict[str, str]:
    return {name: request.args[name] for name in FILTER_ARGS if request.args.get(name)}


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> str | Response:
    """Add a unit under an office of the subtree."""
    form = UnitForm()
    _offer_offices(form)
    office_id = request.args.get("office", type=int)
    if request.method == "GET" and office_id:
        office = organisation_admin.managed_office(db.session, current_user, office_id)
        form.office_code.data = office.code
    return _save(form, None)


@bp.route("/<int:unit_id>/edit", methods=["GET", "POST"])
@login_required
def edit(unit_id: int) -> str | Response:
    """Change a unit: its name, code, office, type and title."""
    unit = unit_admin.get_unit(db.session, current_user, unit_id)
    form = UnitForm(data=_unit_data(unit))
    _offer_offices(form)
    return _save(form, unit)


def _unit_data(unit: Unit) -> dict:
    return {
        "name": unit.name,
        "code": unit.code,
        "unit_type": unit.unit_type,
        "office_code": unit.office.code,
        "target_level": unit.target_level,
        "title_level": unit.title_level or "",
        "title_status": unit.title_status,
        "term_start": unit.title_term_start,
        "term_end": unit.title_term_end,
        "needs_leader_signoff": unit.needs_leader_signoff,
    }


def _offer_offices(form: UnitForm) -> None:
    offices = organisation_admin.managed_offices(db.session, current_user)
    form.office_code.choices = [
        SelectChoice(office.code, f"{office.name} ({office.code})")
        for office in offices
    ]


def _save(form: UnitForm, unit: Unit | None) -> str | Response:
    """Save the unit from a valid form, else show the form again."""
    if form.validate_on_submit():
        saved = _saved_unit(form, unit)
        if saved is not None:
            flash(_("Unit %(name)s saved.", name=saved.name), "success")
            return redirect(url_for(".index", office=saved.office_id))
    elif request.method == "POST":
        flash(_("The unit was not saved; correct the marked fields."), "error")

    status = 422 if request.method == "POST" else 200
    page = render_template(
        "organisation/unit_form.html",
        form=form,
        unit=unit,
        unit_types=unit_admin.unit_types(db.session, current_user),
    )
    return page, status


def _saved_unit(form: UnitForm, unit: Unit | None) -> Unit | None:
    values = {name: getattr(form, name).data for name in workbook.COLUMN_LABELS}
    try:
        with transaction(db.session):
            result = unit_admin.save_unit(
                db.session,
                current_user,
                values,
                unit.id if unit is not None else None,
                note=(form.note.data or "").strip(),
            )
    except InvalidInput as error:
        show_on_form(form, error)
        return None
    return result.unit


@bp.route("/import", methods=["GET", "POST"])
@login_required
def import_units() -> str | Response:
    """Add and change units from an uploaded workbook, all rows or none."""
    organisation_admin.admin_scope(current_user)
    form = ImportForm()
    problems: list[dict] = []
    refusal = None
    if form.validate_on_submit():
        try:
            rows = workbook.read_units(form.workbook.data.read())
            with transaction(db.session):
                report = unit_import.import_units(db.session, current_user, rows)
        except unit_import.ImportRefused as error:
            problems = [
                {"row": problem.row, "field": problem.field, "text": _row_text(problem)}
                for problem in _in_sheet_order(error)
            ]
        except InvalidInput as error:
            refusal = error_text(error)
        else:
            flash(_import_summary(report), "success")
            return redirect(url_for(".index"))

    status = 422 if request.method == "POST" else 200
    page = render_template(
        "organisation/import.html", form=form, problems=problems, refusal=refusal
    )
    return page, status


def _in_sheet_order(error: unit_import.ImportRefused) -> list:
    """Return the problems row by row, left to right as the sheet's columns."""
    order = {key: index for index, key in enumerate(workbook.COLUMN_LABELS)}
    return sorted(error.problems, key=lambda p: (p.row, order.get(p.field, len(order))))


def _row_text(problem: unit_import.RowProblem) -> str:
    column = workbook.COLUMN_LABELS.get(problem.field, problem.field)
    text = problem_text({"kind": problem.kind, **problem.values}, problem.message)
    return _(
        "Row %(row)d, column %(column)s: %(problem)s",
        row=problem.row,
        column=column,
        problem=text,
    )


def _import_summary(report: unit_import.ImportReport) -> str:
    return _(
        "Import done: %(created)d units added, %(updated)d changed, "
        "%(unchanged)d unchanged.",
        created=len(report.created),
        updated=len(report.updated),
        unchanged=len(report.unchanged),
    )


@bp.get("/template.xlsx")
@login_required
def template() -> Response:
    """Download the empty units workbook with its explanation sheet."""
    organisation_admin.admin_scope(current_user)
    return _xlsx(workbook.template_workbook(), "units-template.xlsx")


@bp.get("/export.xlsx")
@login_required
def export() -> Response:
    """Download the listed units in the import format."""
    filters = unit_admin.read_filters(request.args)
    units = unit_admin.units_for_export(db.session, current_user, filters)
    return _xlsx(workbook.units_workbook(units), f"units-{utcnow():%Y%m%d}.xlsx")


def _xlsx(data: bytes, name: str) -> Response:
    response = send_file(
        io.BytesIO(data), mimetype=XLSX, as_attachment=True, download_name=name
    )
    response.headers["Cache-Control"] = "no-store"
    return response
