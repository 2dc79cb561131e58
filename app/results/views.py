"""Results pages: a cycle's scores and ranks, closing it, deductions, Excel export."""

from __future__ import annotations

import logging
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import SelectChoice

from app.extensions import db
from app.models import Cycle, utcnow
from app.results.export import results_workbook
from app.results.forms import KIND_LABELS, CloseForm, DeductionForm
from app.services import results, scoring
from processes.errors import Forbidden, InvalidInput

logger = logging.getLogger(__name__)

bp = Blueprint("results", __name__, template_folder="templates")

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
GRADE_LABELS = {
    "model": _l("Model unit"),
    "keep": _l("Keeps the title"),
    "below": _l("Below the threshold"),
    "veto": _l("Vetoed"),
}
OUTCOME_LABELS = {
    "overdue": _l("Not finished by the close"),
    "not_submitted": _l("Never submitted"),
}


@bp.get("/cycles/<int:cycle_id>/results")
@login_required
def cycle_results(cycle_id: int) -> str:
    """Show the cycle's results for the units in the user's scope."""
    cycle = results.visible_cycle(db.session, current_user, cycle_id)
    filters, errors = results.ResultFilters.from_args(request.args)
    rows = results.cycle_results(db.session, current_user, cycle, filters)

    return render_template(
        "results/cycle_results.html",
        cycle=cycle,
        rows=rows,
        filters=filters,
        errors=errors,
        choices=results.filter_choices(db.session, current_user, cycle),
        close_form=CloseForm(),
        may_close=results.can_close(current_user, cycle),
        may_record=results.can_record(current_user),
        grade_labels=GRADE_LABELS,
        outcome_labels=OUTCOME_LABELS,
        export_url=url_for(
            "results.export_results", cycle_id=cycle.id, **filters.as_args()
        ),
    )


@bp.get("/cycles/<int:cycle_id>/results.xlsx")
@login_required
def export_results(cycle_id: int) -> Response:
    """Download the results table, with the page's filters, as an Excel file."""
    cycle = results.visible_cycle(db.session, current_user, cycle_id)
    filters, _errors = results.ResultFilters.from_args(request.args)
    rows = results.cycle_results(db.session, current_user, cycle, filters)

    content = results_workbook(cycle, rows)
    filename = f"{cycle.name}-测评结果.xlsx"
    response = Response(content, mimetype=XLSX_TYPE)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="cycle-{cycle.id}-results.xlsx"; '
        f"filename*=UTF-8''{quote(filename)}"
    )
    return response


@bp.post("/cycles/<int:cycle_id>/close")
@login_required
def close(cycle_id: int) -> Response:
    """Close the cycle (or recompute a closed one) after the user confirms."""
    cycle = results.visible_cycle(db.session, current_user, cycle_id)
    _require_closer(cycle)
    form = CloseForm()
    if not form.validate_on_submit():
        flash(_("Tick the box to confirm closing the cycle."), "error")
        return redirect(url_for("results.cycle_results", cycle_id=cycle_id))

    report = scoring.close_cycle(
        db.session, cycle, now=utcnow(), actor_id=current_user.id
    )
    if report.first_close:
        message = _(
            "The cycle is closed: %(scored)d units scored, %(overdue)d overdue.",
            scored=report.scored,
            overdue=report.overdue,
        )
    else:
        message = _(
            "Results recomputed: %(scored)d units scored, %(overdue)d overdue.",
            scored=report.scored,
            overdue=report.overdue,
        )
    flash(message, "success")
    if report.title_review_error:
        flash(
            _(
                "Title reviews did not start: %(reason)s. Recompute to try again.",
                reason=report.title_review_error,
            ),
            "warning",
        )
    return redirect(url_for("results.cycle_results", cycle_id=cycle_id))


@bp.route("/cycles/<int:cycle_id>/deductions", methods=["GET", "POST"])
@login_required
def deductions(cycle_id: int) -> str | Response:
    """List the cycle's deductions and record a new one."""
    cycle = results.visible_cycle(db.session, current_user, cycle_id)
    may_record = results.can_record(current_user)
    form = _deduction_form(cycle)
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not may_record:
            raise Forbidden(_("Only office reviewers and administrators do this."))
        if form.validate_on_submit():
            errors = _record(cycle, form)
            if not errors:
                flash(_("The deduction is recorded."), "success")
                return redirect(url_for("results.deductions", cycle_id=cycle_id))
        flash(_("The deduction was not recorded; correct the marked fields."), "error")

    status = 422 if errors else 200
    page = render_template(
        "results/deductions.html",
        cycle=cycle,
        form=form,
        errors=errors,
        may_record=may_record,
        records=results.deductions(db.session, current_user, cycle),
        kind_labels=KIND_LABELS,
    )
    return page, status


def _record(cycle: Cycle, form: DeductionForm) -> dict[str, str]:
    """Record the form's deduction; return the errors per field, if any."""
    raw_unit = form.unit_id.data or ""
    if not raw_unit.isdigit():
        return {"unit_id": _("Choose a unit of this cycle.")}
    unit = results.unit_in_cycle(db.session, current_user, cycle, int(raw_unit))
    try:
        scoring.record_deduction(
            db.session,
            actor=current_user,
            unit=unit,
            cycle=cycle,
            kind=form.kind.data,
            count=form.count.data,
            points=form.points.data,
            self_reported=form.self_reported.data,
            description=form.description.data,
            indicator_code=form.indicator_code.data or None,
        )
    except InvalidInput as error:
        return error.details.get("errors") or {"description": error.message}
    return {}


def _deduction_form(cycle: Cycle) -> DeductionForm:
    form = DeductionForm()
    units = results.issued_units(db.session, current_user, cycle)
    form.unit_id.choices = [SelectChoice("", _("Choose a unit"))] + [
        SelectChoice(str(unit.id), unit.name) for unit in units
    ]
    items = results.deduction_items(db.session, cycle)
    form.indicator_code.choices = [
        SelectChoice("", _("None: use the points given"))
    ] + [SelectChoice(item.code, f"{item.code} {item.name}") for item in items]
    return form


def _require_closer(cycle: Cycle) -> None:
    if not results.can_close(current_user, cycle):
        raise Forbidden(
            _("Only an administrator of the office that issued the cycle closes it.")
        )
