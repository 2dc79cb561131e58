"""The public site: civilized units, good practice, articles and reports."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import SelectChoice

from app.extensions import db
from app.models import HumanTask
from app.public import messages
from app.services import articles as articles_service
from app.services import public_photos, public_reports, public_site, report_guard
from app.services.evidence import evidence_path
from app.services.markdown import render_markdown
from forms.public_site_forms import (
    CATEGORY_LABELS,
    ArticleForm,
    ReportForm,
    TrackForm,
)
from processes.errors import InvalidInput, NotFound

logger = logging.getLogger(__name__)

bp = Blueprint("public", __name__, url_prefix="/public", template_folder="templates")

REPORT_STATUS_LABELS = {
    "triage": _l("Received, waiting for triage"),
    "verifying": _l("Being verified"),
    "rectifying": _l("The unit is rectifying"),
    "checking": _l("Rectification being checked"),
    "feedback": _l("Reply being written"),
    "published": _l("Closed, result published"),
}
MILESTONE_LABELS = {
    "received": _l("Report received"),
    "accepted": _l("Accepted and sent for verification"),
    "confirmed": _l("Verified: the problem was confirmed"),
    "unfounded": _l("Verified: the problem was not confirmed"),
    "rectified": _l("Rectification checked and accepted"),
    "published": _l("Result published"),
}
OUTCOME_LABELS = {
    "rejected": _l("Not accepted for handling"),
    "unfounded": _l("Not confirmed"),
    "confirmed": _l("Confirmed and rectified"),
}


@bp.get("/")
def index() -> str:
    """List the units holding a title, searched by name and filtered by level."""
    filters = public_site.UnitFilters.from_args(request.args)
    listing = public_site.titled_units(db.session, filters)
    return render_template(
        "public/index.html", listing=listing, filters=filters, args=filters.as_args()
    )


@bp.get("/units/<int:unit_id>")
def unit(unit_id: int) -> str:
    """Show a titled unit with its published good practice."""
    found = public_site.titled_unit(db.session, unit_id)
    practice = public_site.good_practice(db.session, found.id)
    return render_template("public/unit.html", unit=found, practice=practice)


@bp.get("/photos/<int:evidence_id>")
def photo(evidence_id: int) -> Response:
    """Send a bare copy of a published good-practice photo, and nothing else."""
    found = public_site.public_photo(db.session, evidence_id)
    folder = Path(current_app.config["WENMING_UPLOAD_FOLDER"])
    try:
        path, content_type = public_photos.bare_copy(
            folder, found.sha256, found.content_type
        )
    except ValueError as error:
        logger.warning("good-practice photo %s not shown: %s", evidence_id, error)
        raise NotFound(f"no published photo {evidence_id}") from error
    return _send_image(path, content_type, "public, max-age=300")


@bp.get("/articles")
def articles() -> str:
    """List the published articles, newest first."""
    page = request.args.get("page", "1")
    listing = public_site.published_articles(
        db.session, int(page) if page.isdigit() else 1
    )
    return render_template("public/articles.html", listing=listing)


@bp.get("/articles/<int:article_id>")
def article(article_id: int) -> str:
    """Show a published article, its Markdown rendered as sanitized HTML."""
    found = public_site.published_article(db.session, article_id)
    return render_template(
        "public/article.html", article=found, body=render_markdown(found.body)
    )


@bp.route("/report", methods=["GET", "POST"])
def report() -> Response | str:
    """Show the report form; file a sent report and show its tracking code once."""
    form = ReportForm()
    form.unit_id.choices = _unit_choices()
    if request.method == "GET":
        form.unit_id.data = request.args.get("unit", "")
        return _report_page(form)
    if not form.validate_on_submit():
        return _report_page(
            form, {"": _("The form has expired; please send it again.")}
        )

    try:
        filed = public_reports.file_report(
            db.session,
            _report_input(form),
            _guard(form),
            upload_folder=Path(current_app.config["WENMING_UPLOAD_FOLDER"]),
        )
    except InvalidInput as error:
        return _report_refused(form, error)

    response = make_response(render_template("public/report_done.html", filed=filed))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/track", methods=["GET", "POST"])
def track() -> Response | str:
    """Ask for a tracking code; show the report's status, timeline and result."""
    form = TrackForm()
    if request.method == "GET" or not form.validate_on_submit():
        return render_template("public/track.html", form=form, found=None)
    try:
        found = public_reports.track(db.session, form.code.data or "")
    except NotFound:
        page = render_template(
            "public/track.html",
            form=form,
            found=None,
            not_found=True,
        )
        return make_response(page, 404)
    response = make_response(
        render_template("public/track.html", form=form, found=found)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_template_global("public_report_of")
def public_report_of(task: HumanTask) -> dict:
    """Return what a report task page shows: the report, contact only for staff."""
    found = public_reports.report_of_task(db.session, task)
    return {
        "report": found,
        "show_contact": public_reports.can_see_contact(current_user, found),
        "category": CATEGORY_LABELS.get(found.category, found.category),
    }


@bp.app_context_processor
def report_labels() -> dict:
    """Give templates the labels of report statuses, milestones and outcomes."""
    return {
        "report_status_label": lambda code: str(REPORT_STATUS_LABELS.get(code, code)),
        "milestone_label": lambda code: str(MILESTONE_LABELS.get(code, code)),
        "outcome_label": lambda code: str(OUTCOME_LABELS.get(code, code)),
    }


@bp.app_template_global("report_category")
def report_category(code: str) -> str:
    """Return the translated label of a report category."""
    return str(CATEGORY_LABELS.get(code, code))


def _unit_choices() -> list[SelectChoice]:
    units = public_site.unit_choices(db.session)
    first = SelectChoice("", _("Choose a unit"))
    return [first, *(SelectChoice(str(u.id), u.name) for u in units)]


def _report_input(form: ReportForm) -> public_reports.ReportInput:
    uploads = [
        (upload.filename or "photo", upload.read())
        for upload in request.files.getlist(form.photos.name)
        if upload and upload.filename
    ]
    return public_reports.ReportInput(
        unit_id=form.unit_id.data,
        category=form.category.data or "",
        description=form.description.data or "",
        contact_name=form.contact_name.data or "",
        contact_phone=form.contact_phone.data or "",
        contact_email=form.contact_email.data or "",
        photos=uploads,
    )


def _guard(form: ReportForm) -> public_reports.Guard:
    config = current_app.config
    limits = report_guard.Limits(
        per_client=config["WENMING_PUBLIC_REPORTS_PER_HOUR"],
        overall=config["WENMING_PUBLIC_REPORTS_OVERALL_PER_HOUR"],
    )
    return public_reports.Guard(
        secret=config["SECRET_KEY"],
        client_address=request.remote_addr,
        token=form.challenge_token.data or "",
        answer=form.challenge_answer.data or "",
        honeypot=form.website.data or "",
        limits=limits,
    )


def _report_refused(form: ReportForm, error: InvalidInput) -> Response:
    details = error.details if isinstance(error.details, dict) else {}
    codes = details.get("codes") or {"": "invalid"}
    general = {}
    for field, code in codes.items():
        message = messages.refusal(code)
        if field and field in form._fields and field != "challenge":
            form[field].errors = [message]
        else:
            general[field or "form"] = message
    status = 429 if set(codes.values()) & {"rate_limited", "busy"} else 422
    return make_response(_report_page(form, general), status)


def _report_page(form: ReportForm, general: dict | None = None) -> str:
    challenge = report_guard.new_challenge(current_app.config["SECRET_KEY"])
    form.challenge_token.data = challenge.token
    form.challenge_answer.data = ""
    return render_template(
        "public/report.html", form=form, challenge=challenge, general=general or {}
    )


def _send_image(path: Path, content_type: str, cache: str) -> Response:
    response = send_file(path, mimetype=content_type, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = cache
    return response


# Office staff: articles, and the photos of the reports they handle.


@bp.get("/manage/articles")
@login_required
def manage_articles() -> str:
    """List the articles of the user's offices, drafts and published."""
    rows = articles_service.articles_for(db.session, current_user)
    return render_template("public/manage_articles.html", rows=rows)


@bp.route("/manage/articles/new", methods=["GET", "POST"])
@login_required
def new_article() -> Response | str:
    """Write a new article; it is saved as a draft."""
    form = _article_form(None)
    if request.method == "POST" and form.validate_on_submit():
        if request.form.get("action") == "preview":
            return _article_page(form, None, preview=True)
        try:
            saved = articles_service.create_article(
                db.session, current_user, _article_values(form)
            )
        except InvalidInput as error:
            return _article_refused(form, None, error)
        flash(_("Article saved as a draft."), "success")
        return redirect(url_for("public.edit_article", article_id=saved.id))
    return _article_page(form, None)


@bp.route("/manage/articles/<int:article_id>", methods=["GET", "POST"])
@login_required
def edit_article(article_id: int) -> Response | str:
    """Edit an article, preview it, and publish or unpublish it."""
    found = articles_service.article_for(db.session, current_user, article_id)
    form = _article_form(found)
    if request.method == "POST" and form.validate_on_submit():
        action = request.form.get("action", "save")
        if action == "preview":
            return _article_page(form, found, preview=True)
        if action in ("publish", "unpublish"):
            articles_service.set_published(
                db.session, current_user, found.id, action == "publish"
            )
            flash(
                _("Article published.")
                if action == "publish"
                else _("Article taken back to draft."),
                "success",
            )
            return redirect(url_for("public.edit_article", article_id=found.id))
        try:
            articles_service.update_article(
                db.session, current_user, found.id, _article_values(form)
            )
        except InvalidInput as error:
            return _article_refused(form, found, error)
        flash(_("Article saved."), "success")
        return redirect(url_for("public.edit_article", article_id=found.id))
    return _article_page(form, found)


@bp.get("/manage/report-photos/<int:photo_id>")
@login_required
def report_photo(photo_id: int) -> Response:
    """Send a report's photo to staff and unit users who see the report."""
    found = public_reports.photo_for_user(db.session, current_user, photo_id)
    folder = Path(current_app.config["WENMING_UPLOAD_FOLDER"])
    path = evidence_path(folder, found.sha256)
    return _send_image(path, found.content_type, "private, no-store")


def _article_form(found) -> ArticleForm:
    offices = articles_service.offices_for(db.session, current_user)
    form = ArticleForm(obj=found if request.method == "GET" else None)
    form.office_id.choices = [SelectChoice(str(o.id), o.name) for o in offices]
    if request.method == "GET" and found is not None:
        form.office_id.data = str(found.office_id)
    return form


def _article_values(form: ArticleForm) -> dict:
    return {
        "office_id": form.office_id.data,
        "title": form.title.data,
        "summary": form.summary.data,
        "body": form.body.data,
    }


def _article_refused(form: ArticleForm, found, error: InvalidInput) -> Response:
    details = error.details if isinstance(error.details, dict) else {}
    for key, message in (details.get("errors") or {}).items():
        if key in form._fields:
            form[key].errors = [message]
    return make_response(_article_page(form, found), 422)


def _article_page(form: ArticleForm, found, *, preview: bool = False) -> str:
    body = render_markdown(form.body.data) if preview else None
    return render_template(
        "public/edit_article.html", form=form, article=found, preview=body
    )
