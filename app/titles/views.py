"""Unit and title pages: the units list, a unit's title history, title reviews."""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    Response,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField, TextAreaField

from app.extensions import db
from app.models import HumanTask
from app.models.organisation import TITLE_LEVELS, TITLE_STATUSES
from app.models.titles import TITLE_REVIEW_REASONS
from app.services import title_pages, titles
from processes.errors import Conflict, Forbidden, InvalidInput

logger = logging.getLogger(__name__)

bp = Blueprint("titles", __name__, template_folder="templates")

STATUS_LABELS = {
    "none": _l("No title"),
    "applying": _l("Applying"),
    "creating": _l("Creating"),
    "named": _l("Named"),
    "yellow_card": _l("Yellow card"),
    "rectifying": _l("Rectifying"),
    "revoked": _l("Revoked"),
}
LEVEL_LABELS = {
    "county": _l("County level"),
    "city": _l("City level"),
    "province": _l("Province level"),
    "national": _l("National level"),
}
PROPOSAL_LABELS = {
    "keep": _l("Keep the title"),
    "yellow_card": _l("Yellow card warning"),
    "rectify": _l("Rectify within a term"),
    "revoke": _l("Revoke the title"),
}
REASON_LABELS = {
    "below_keep": _l("Score below the keep threshold"),
    "vetoed": _l("Veto item"),
    "rectification_failed": _l("Rectification failed"),
    "complaint": _l("Complaint or problem found"),
}
PHASE_LABELS = {
    "proposing": _l("Awaiting the county's proposal"),
    "approving": _l("Awaiting the city's approval"),
    "notice": _l("Public notice"),
    "notice_ended": _l("Notice ended; taking effect"),
    "deciding": _l("Objections before the city"),
    "decided": _l("Decided"),
}
STEP_LABELS = {
    "title.review_started": _l("Review started"),
    "title.proposed": _l("Proposal made"),
    "title.returned": _l("Sent back to the county"),
    "title.approved": _l("Approved for public notice"),
    "title.notice_opened": _l("Public notice opened"),
    "title.objection_recorded": _l("Objection recorded"),
    "title.objections_decided": _l("Objections decided"),
    "title.changed": _l("Decision took effect"),
}


class ObjectionForm(FlaskForm):
    """An objection raised during a public notice, as office staff record it."""

    text = TextAreaField(_l("Objection"), render_kw={"rows": 4, "maxlength": 2000})
    raised_by = StringField(_l("Raised by"), render_kw={"maxlength": 120})


class StartReviewForm(FlaskForm):
    """An office administrator's request to review a unit's title."""

    reason = SelectField(
        _l("Reason"),
        choices=[SelectChoice(r, REASON_LABELS[r]) for r in TITLE_REVIEW_REASONS],
    )


@bp.app_context_processor
def title_labels() -> dict:
    """Give templates the labels of title statuses, levels and proposals."""
    return {
        "title_status_labels": STATUS_LABELS,
        "title_level_labels": LEVEL_LABELS,
        "proposal_labels": PROPOSAL_LABELS,
        "review_reason_labels": REASON_LABELS,
        "review_phase_labels": PHASE_LABELS,
        "step_label": lambda action: STEP_LABELS.get(action, action),
    }


@bp.app_template_global()
def title_review_of(task: HumanTask) -> title_pages.ReviewPage:
    """Return the title review a task form works on, for the task page."""
    return title_pages.review_for_task(db.session, current_user, task)


@bp.get("/units/")
@login_required
def units() -> str:
    """List the units in the viewer's scope with their title and latest change."""
    try:
        filters = title_pages.read_filters(request.args)
    except InvalidInput as error:
        flash(error.message, "error")
        filters = title_pages.UnitFilters()
    listing = title_pages.list_units(db.session, current_user, filters)

    return render_template(
        "titles/units.html",
        listing=listing,
        statuses=TITLE_STATUSES,
        levels=TITLE_LEVELS,
        page_args=_page_args(listing.filters),
    )


@bp.get("/units/<int:unit_id>")
@login_required
def unit(unit_id: int) -> str:
    """Show a unit's title, its history and its title reviews."""
    page = title_pages.unit_title_page(db.session, current_user, unit_id)
    return render_template("titles/unit.html", page=page, form=StartReviewForm())


@bp.post("/units/<int:unit_id>/title-reviews")
@login_required
def start_review(unit_id: int) -> Response:
    """Start a title review of the unit, for an office administrator."""
    form = StartReviewForm()
    if not form.validate_on_submit():
        flash(_("Choose the reason for the review."), "error")
        return redirect(url_for("titles.unit", unit_id=unit_id))

    try:
        review = titles.start_title_review(
            db.session, current_user, unit_id, form.reason.data
        )
    except (InvalidInput, Conflict, Forbidden) as error:
        flash(error.message, "error")
        return redirect(url_for("titles.unit", unit_id=unit_id))

    flash(_("The title review was started; the county proposes first."), "success")
    return redirect(url_for("titles.review", review_id=review.id))


@bp.get("/titles/<int:review_id>")
@login_required
def review(review_id: int) -> str:
    """Show a title review: proposal, approval, notice, objections, outcome."""
    page = title_pages.review_page(db.session, current_user, review_id)
    return render_template("titles/review.html", page=page, form=ObjectionForm())


@bp.post("/titles/<int:review_id>/objections")
@login_required
def record_objection(review_id: int) -> Response:
    """Record an objection raised while the review's public notice runs."""
    form = ObjectionForm()
    if not form.validate_on_submit():
        return _objection_refused(review_id, form, _("The form expired; send again."))

    try:
        titles.record_objection(
            db.session,
            current_user,
            review_id,
            form.text.data or "",
            form.raised_by.data or "",
        )
    except InvalidInput as error:
        details = error.details.get("errors") or {}
        for name, message in details.items():
            if name in form._fields:
                form[name].errors = [message]
        return _objection_refused(review_id, form, error.message)
    except (Conflict, Forbidden) as error:
        return _objection_refused(review_id, form, error.message, error.status_code)

    flash(_("The objection was recorded."), "success")
    return redirect(url_for("titles.review", review_id=review_id))


def _objection_refused(
    review_id: int, form: ObjectionForm, message: str, status: int = 422
) -> Response:
    """Show the review again with the typed objection kept and the reason."""
    page = title_pages.review_page(db.session, current_user, review_id)
    html = render_template("titles/review.html", page=page, form=form, error=message)
    return make_response(html, status)


def _page_args(filters: title_pages.UnitFilters) -> dict:
    args = {
        "status": filters.status,
        "level": filters.level,
        "type": filters.unit_type,
        "q": filters.search,
    }
    return {key: value for key, value in args.items() if value}
