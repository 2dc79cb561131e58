"""Cycle pages: cycles with their issuance progress, opening a cycle, schedules."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from wtforms import SelectChoice

from app.cycles.forms import (
    RECURRENCE_LABELS,
    TITLE_FILTER_LABELS,
    CycleForm,
    ScheduleForm,
)
from app.errors import wants_json
from app.extensions import db
from app.models import Cycle, Office, utcnow
from app.services import cycle_pages, cycles, results, schedules
from app.services.base import transaction
from processes.errors import Conflict, Forbidden, InvalidInput

logger = logging.getLogger(__name__)

bp = Blueprint("cycles", __name__, url_prefix="/cycles", template_folder="templates")

ISSUE_STEP_SIZE = 200
DUE_FIELDS = (
    "submission_due",
    "county_review_due",
    "city_review_due",
    "province_review_due",
)


@bp.get("/")
@login_required
def index() -> str:
    """List the cycles that reach into the user's scope with their progress."""
    rows = cycle_pages.cycles_in_scope(db.session, current_user)
    offices = cycle_pages.managed_offices(db.session, current_user)

    return render_template(
        "cycles/index.html",
        cycles=rows,
        progress={cycle.id: cycle_pages.progress_of(cycle) for cycle in rows},
        may_open=bool(offices),
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> str | Response:
    """Open a cycle now and go to its page, where its issuance is shown."""
    cycle_pages.check_staff(current_user)
    form = CycleForm()
    offices = _offer_offices(form)
    if request.method == "GET":
        form.auto_close.data = True
    if form.validate_on_submit():
        cycle = _open_from(form)
        if cycle is not None:
            flash(_("The cycle is open; its tasks are being issued."), "success")
            return redirect(url_for("cycles.detail", cycle_id=cycle.id))
    elif request.method == "POST":
        flash(_("The cycle was not opened; correct the marked fields."), "error")

    status = 422 if request.method == "POST" else 200
    return render_template("cycles/new.html", form=form, offices=offices), status


def _open_from(form: CycleForm) -> Cycle | None:
    """Open the form's cycle; put the refusal on the form and return None."""
    office = cycle_pages.managed_office(db.session, current_user, form.office_id.data)
    system = _chosen_system(form, office)
    if system is None:
        return None
    dues = {name: _utc(getattr(form, name).data, office) for name in DUE_FIELDS}
    try:
        with transaction(db.session):
            return cycles.open_cycle(
                db.session,
                office=office,
                name=form.name.data.strip(),
                indicator_system=system,
                reminder_lead=form.reminder_lead.data.strip(),
                actor_id=current_user.id,
                unit_types=form.unit_types.data or [],
                title_levels=form.title_levels.data or [],
                auto_close=form.auto_close.data,
                **dues,
            )
    except Conflict:
        form.name.errors.append(
            _("%(office)s already has a cycle of this name.", office=office.name)
        )
    except InvalidInput as error:
        form.form_errors.append(error.message)
    return None


def _chosen_system(form, office: Office):
    """Return the chosen indicator system if the office may use it, else None."""
    systems = cycle_pages.usable_systems(db.session, [office])
    chosen = next((s for s in systems if s.id == form.indicator_system_id.data), None)
    if chosen is None:
        form.indicator_system_id.errors.append(
            _(
                "Choose a published indicator system of %(office)s or an office above.",
                office=office.name,
            )
        )
    return chosen


def _utc(local: datetime, office: Office) -> datetime:
    """Read a time typed in the office's time zone as an aware UTC time."""
    return local.replace(tzinfo=ZoneInfo(office.timezone)).astimezone(UTC)


def _offer_offices(form) -> list[Office]:
    """Fill the form's choices from what the user manages; refuse if nothing."""
    offices = cycle_pages.managed_offices(db.session, current_user)
    if not offices:
        raise Forbidden(
            _("Only office administrators open cycles and keep their schedules.")
        )
    form.office_id.choices = [SelectChoice(o.id, o.name) for o in offices]
    systems = cycle_pages.usable_systems(db.session, offices)
    form.indicator_system_id.choices = [
        SelectChoice(s.id, f"{s.name} ({s.code} v{s.version})") for s in systems
    ]
    form.unit_types.choices = [
        SelectChoice(kind, kind)
        for kind in cycle_pages.unit_types_under(db.session, offices)
    ]
    return offices


@bp.get("/<int:cycle_id>")
@login_required
def detail(cycle_id: int) -> str:
    """Show a cycle: deadlines, which units it is for, and its issuance."""
    cycle_pages.check_staff(current_user)
    cycle = results.visible_cycle(db.session, current_user, cycle_id)
    may_manage = cycle_pages.can_manage(current_user, cycle.office)

    return render_template(
        "cycles/detail.html",
        cycle=cycle,
        progress=cycle_pages.progress_of(cycle),
        may_manage=may_manage,
        may_close=results.can_close(current_user, cycle),
        title_filter_labels=TITLE_FILTER_LABELS,
    )


@bp.get("/<int:cycle_id>/progress")
@login_required
def progress(cycle_id: int) -> Response:
    """Answer the cycle's issuance progress as JSON."""
    cycle_pages.check_staff(current_user)
    cycle = results.visible_cycle(db.session, current_user, cycle_id)
    return jsonify(cycle_pages.progress_of(cycle).as_json())


@bp.post("/<int:cycle_id>/issue")
@login_required
def issue(cycle_id: int) -> Response:
    """Issue the next batch of the cycle's tasks and answer the progress."""
    cycle_pages.check_staff(current_user)
    cycle = results.visible_cycle(db.session, current_user, cycle_id)
    if not cycle_pages.can_manage(current_user, cycle.office):
        raise Forbidden(_("Only an administrator of the issuing office does this."))

    report = cycles.issue_step(
        db.session, cycle, batch_size=ISSUE_STEP_SIZE, actor_id=current_user.id
    )
    cycle = db.session.get(Cycle, cycle_id)
    answer = cycle_pages.progress_of(cycle).as_json()
    answer["refused"] = report.refused or {}
    if wants_json():
        return jsonify(answer)
    return redirect(url_for("cycles.detail", cycle_id=cycle_id))


@bp.get("/schedules/")
@login_required
def schedule_list() -> str:
    """List the schedules of the user's subtree with their next opening."""
    cycle_pages.check_staff(current_user)
    rows = schedules.schedules_in_scope(db.session, current_user)
    openings = {}
    for schedule in rows:
        try:
            openings[schedule.id] = cycle_pages.next_opening(schedule)
        except InvalidInput:
            openings[schedule.id] = None

    return render_template(
        "cycles/schedules.html",
        schedules=rows,
        openings=openings,
        may_manage={s.id: cycle_pages.can_manage(current_user, s.office) for s in rows},
        may_create=bool(cycle_pages.managed_offices(db.session, current_user)),
        recurrence_labels=RECURRENCE_LABELS,
        title_filter_labels=TITLE_FILTER_LABELS,
        now=utcnow(),
    )


@bp.route("/schedules/new", methods=["GET", "POST"])
@login_required
def schedule_new() -> str | Response:
    """Create a schedule that opens cycles on its calendar."""
    cycle_pages.check_staff(current_user)
    form = ScheduleForm()
    _offer_offices(form)
    if request.method == "GET":
        form.auto_close.data = True
    return _save_schedule(form, None)


@bp.route("/schedules/<int:schedule_id>/edit", methods=["GET", "POST"])
@login_required
def schedule_edit(schedule_id: int) -> str | Response:
    """Change a schedule; cycles it opened before keep their deadlines."""
    cycle_pages.check_staff(current_user)
    schedule = schedules.get_schedule(db.session, current_user, schedule_id)
    form = ScheduleForm(obj=schedule)
    _offer_offices(form)
    if request.method == "GET":
        for name, value in schedules.calendar_of(schedule).items():
            getattr(form, name).data = value
    return _save_schedule(form, schedule)


def _save_schedule(form: ScheduleForm, schedule) -> str | Response:
    """Create or change the schedule from a valid form, else show the form again."""
    if form.validate_on_submit():
        saved = _apply_schedule(form, schedule)
        if saved is not None:
            flash(_("The schedule is saved."), "success")
            return redirect(url_for("cycles.schedule_list"))
    elif request.method == "POST":
        flash(_("The schedule was not saved; correct the marked fields."), "error")

    status = 422 if request.method == "POST" else 200
    page = render_template("cycles/schedule_form.html", form=form, schedule=schedule)
    return page, status


def _apply_schedule(form: ScheduleForm, schedule):
    """Save the form through the schedules service; put refusals on the form."""
    office = cycle_pages.managed_office(db.session, current_user, form.office_id.data)
    system = _chosen_system(form, office)
    if system is None:
        return None
    spec = schedules.ScheduleSpec(
        name=form.name.data,
        office=office,
        indicator_system=system,
        recurrence=form.recurrence.data,
        month=form.month.data,
        day=form.day.data,
        hour=form.hour.data,
        cron=form.cron.data or "",
        submission_days=form.submission_days.data,
        county_review_days=form.county_review_days.data,
        city_review_days=form.city_review_days.data,
        province_review_days=form.province_review_days.data,
        reminder_lead=form.reminder_lead.data.strip(),
        unit_types=form.unit_types.data or [],
        title_levels=form.title_levels.data or [],
        auto_close=form.auto_close.data,
    )
    try:
        with transaction(db.session):
            if schedule is None:
                return schedules.create_schedule(db.session, current_user, spec)
            return schedules.update_schedule(
                db.session, current_user, schedule.id, spec
            )
    except (InvalidInput, Conflict) as error:
        form.form_errors.append(error.message)
    return None


@bp.post("/schedules/<int:schedule_id>/active")
@login_required
def schedule_active(schedule_id: int) -> Response:
    """Pause a schedule or let it open cycles again."""
    cycle_pages.check_staff(current_user)
    active = request.form.get("active") == "1"
    with transaction(db.session):
        schedules.set_active(db.session, current_user, schedule_id, active)
    if active:
        flash(_("The schedule is active: it opens its next cycle on time."), "success")
    else:
        flash(_("The schedule is paused: it opens no more cycles."), "success")
    return redirect(url_for("cycles.schedule_list"))
