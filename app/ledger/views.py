"""Ledger pages (台账): units record their creation work as it happens."""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from wtforms import SelectChoice

from app.extensions import db
from app.ledger.forms import ActionForm, EntryForm
from app.models import HumanTask, Indicator, Unit
from app.services import ledger, ledger_queries, ledger_submissions
from processes.errors import Conflict, Forbidden, InvalidInput

logger = logging.getLogger(__name__)

bp = Blueprint("ledger", __name__, url_prefix="/ledger", template_folder="templates")


@bp.app_template_global()
def ledger_offers(task: HumanTask) -> dict:
    """Return the ledger entries a submission form offers, per indicator code."""
    cache = request.environ.setdefault("wenming.ledger_offers", {})
    if task.id not in cache:
        cache[task.id] = ledger_submissions.offers_for_task(
            db.session, current_user, task
        )
    return cache[task.id]


@bp.app_template_global()
def ledger_styles_once() -> bool:
    """Tell a task page to link the ledger styles, the first time it asks."""
    if request.environ.get("wenming.ledger_styles_linked"):
        return False
    request.environ["wenming.ledger_styles_linked"] = True
    return True


@bp.get("/")
@login_required
def index() -> str:
    """List the ledger entries in the user's scope, filtered and paged."""
    filters, bad = ledger_queries.LedgerFilters.from_args(request.args)
    listing = ledger_queries.list_entries(db.session, current_user, filters)
    return render_template(
        "ledger/index.html",
        listing=listing,
        filters=filters,
        bad_filters=bad,
        **_filter_context(),
    )


@bp.get("/calendar")
@login_required
def calendar() -> str:
    """Show one month of entries as a calendar grid."""
    filters, bad = ledger_queries.LedgerFilters.from_args(request.args)
    month = filters.month or _this_month()
    grid = ledger_queries.month_calendar(db.session, current_user, month, filters)
    return render_template(
        "ledger/calendar.html",
        grid=grid,
        filters=filters,
        bad_filters=bad,
        **_filter_context(),
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> str | Response:
    """Record a new activity with its evidence files."""
    if not ledger.may_record(current_user):
        raise Forbidden(_("Only a liaison of a unit records activities."))
    form = _entry_form()
    if request.method == "GET":
        form.occurred_on.data = _today().isoformat()
        return _entry_page(form, None, {})

    try:
        entry = ledger.create_entry(
            db.session,
            current_user,
            _values(form),
            files=_chosen_files(),
            upload_folder=_upload_folder(),
            max_bytes=_max_bytes(),
        )
    except InvalidInput as error:
        return _entry_page(form, None, _errors(error), status=422)
    flash(_("The activity is recorded in the ledger."), "success")
    return redirect(url_for("ledger.show", entry_id=entry.id))


@bp.get("/<int:entry_id>")
@login_required
def show(entry_id: int) -> str:
    """Show an entry with its evidence, capture times and actions."""
    entry = ledger.visible_entry(db.session, current_user, entry_id)
    return _show_page(entry)


@bp.route("/<int:entry_id>/edit", methods=["GET", "POST"])
@login_required
def edit(entry_id: int) -> str | Response:
    """Change an entry of the liaison's own unit."""
    entry = ledger.editable_entry(db.session, current_user, entry_id)
    form = _entry_form(entry)
    if request.method == "GET":
        form.process(obj=entry)
        form.occurred_on.data = entry.occurred_on.isoformat()
        form.indicator_id.data = str(entry.indicator_id)
        return _entry_page(form, entry, {})

    try:
        ledger.update_entry(db.session, current_user, entry.id, _values(form))
    except InvalidInput as error:
        return _entry_page(form, entry, _errors(error), status=422)
    flash(_("The ledger entry is saved."), "success")
    return redirect(url_for("ledger.show", entry_id=entry.id))


@bp.post("/<int:entry_id>/delete")
@login_required
def delete(entry_id: int) -> Response:
    """Delete an entry of the liaison's own unit."""
    try:
        ledger.delete_entry(db.session, current_user, entry_id)
    except Conflict as error:
        flash(error.message, "error")
        return redirect(url_for("ledger.show", entry_id=entry_id))
    flash(_("The ledger entry is deleted."), "success")
    return redirect(url_for("ledger.index"))


@bp.post("/<int:entry_id>/evidence")
@login_required
def upload(entry_id: int) -> Response:
    """Add the chosen files to an entry's evidence."""
    entry = ledger.editable_entry(db.session, current_user, entry_id)
    files = _chosen_files()
    refused = []
    for filename, content in files:
        try:
            ledger.add_evidence(
                db.session,
                current_user,
                entry.id,
                filename=filename,
                content=content,
                upload_folder=_upload_folder(),
                max_bytes=_max_bytes(),
            )
        except InvalidInput as error:
            refused.append(error.message)
    for message in refused:
        flash(message, "error")
    if files and len(refused) < len(files):
        flash(_("Files added to the entry."), "success")
    elif not files:
        flash(_("Choose at least one file to upload."), "error")
    return redirect(url_for("ledger.show", entry_id=entry.id, _anchor="evidence"))


@bp.post("/<int:entry_id>/evidence/<int:evidence_id>/delete")
@login_required
def remove_file(entry_id: int, evidence_id: int) -> Response:
    """Remove one file from an entry's evidence."""
    ledger.remove_evidence(db.session, current_user, entry_id, evidence_id)
    flash(_("The file is removed from the entry."), "success")
    return redirect(url_for("ledger.show", entry_id=entry_id, _anchor="evidence"))


@bp.post("/<int:entry_id>/good-practice")
@login_required
def good_practice(entry_id: int) -> Response:
    """Mark an entry as good practice to publish, or take the mark off."""
    form = ActionForm()
    good = form.value.data == "1"
    ledger.set_good_practice(db.session, current_user, entry_id, good)
    if good:
        flash(_("The entry is marked as good practice."), "success")
    else:
        flash(_("The good-practice mark is taken off."), "success")
    return redirect(url_for("ledger.show", entry_id=entry_id))


@bp.get("/coverage")
@login_required
def coverage() -> str:
    """Show per unit and indicator how many months of a year have entries."""
    raw = (request.args.get("year") or "").strip()
    year = int(raw) if raw.isdigit() and 2000 <= int(raw) <= 2100 else _today().year
    table = ledger_queries.coverage(db.session, current_user, year)
    return render_template("ledger/coverage.html", table=table)


@bp.get("/good-practice")
@login_required
def good_practice_list() -> str:
    """List the good-practice entries in the staff member's scope."""
    rows = ledger_queries.good_practice_list(db.session, current_user)
    return render_template("ledger/good_practice.html", rows=rows)


def _filter_context() -> dict:
    """Return what the filter bar offers: indicators and, for staff, units."""
    staff = ledger.is_staff(current_user)
    units = []
    if staff:
        units = db.session.scalars(
            ledger_queries.select_units_in_scope(current_user)
        ).all()
    return {
        "indicators": ledger_queries.indicator_options(db.session, current_user),
        "units": units,
        "is_staff": staff,
        "may_record": ledger.may_record(current_user),
    }


def _entry_form(entry=None) -> EntryForm:
    form = EntryForm()
    unit = db.session.get(Unit, current_user.unit_id)
    choices = ledger.indicator_choices(db.session, unit)
    options = [SelectChoice("", _("Choose an indicator"))]
    options += [SelectChoice(str(c.id), f"{c.code} {c.name}") for c in choices]
    if entry is not None and entry.indicator_id not in {c.id for c in choices}:
        options.append(SelectChoice(str(entry.indicator_id), entry.indicator_code))
    form.indicator_id.choices = options
    return form


def _values(form: EntryForm) -> dict:
    return {name: form[name].data for name in ledger.ENTRY_FIELDS}


def _entry_page(form, entry, errors: dict, status: int = 200) -> Response:
    page = render_template(
        "ledger/entry_form.html",
        form=form,
        entry=entry,
        errors=errors,
        has_indicators=len(form.indicator_id.choices) > 1,
    )
    return make_response(page, status)


def _show_page(entry) -> str:
    unit = db.session.get(Unit, entry.unit_id)
    indicator = db.session.get(Indicator, entry.indicator_id)
    return render_template(
        "ledger/show.html",
        entry=entry,
        unit=unit,
        indicator=indicator,
        files=ledger.entry_files(db.session, entry),
        may_edit=ledger.may_record(current_user)
        and current_user.unit_id == entry.unit_id,
        is_staff=ledger.is_staff(current_user),
        action_form=ActionForm(),
    )


def _errors(error: InvalidInput) -> dict[str, str]:
    details = error.details if isinstance(error.details, dict) else {}
    return dict(details.get("errors") or {"": error.message})


def _chosen_files() -> tuple[tuple[str, bytes], ...]:
    return tuple(
        (upload.filename, upload.read())
        for upload in request.files.getlist("files")
        if upload and upload.filename
    )


def _upload_folder() -> Path:
    return Path(current_app.config["WENMING_UPLOAD_FOLDER"])


def _max_bytes() -> int:
    return current_app.config["WENMING_MAX_UPLOAD_MB"] * 1024 * 1024


def _today() -> date:
    if current_user.unit_id is not None:
        return ledger.today_for(db.session.get(Unit, current_user.unit_id))
    office = current_user.office
    zone = (office.timezone if office else None) or "Asia/Shanghai"
    return datetime.now(ZoneInfo(zone)).date()


def _this_month() -> date:
    return _today().replace(day=1)
