"""Electronic archive pages (档案电子化): frozen dossiers, search and download."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

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
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import StringField, TextAreaField

from app.extensions import db
from app.instances.views import DECISION_LABELS, LEVEL_LABELS, event_label
from app.models import Cycle, Unit
from app.results.views import GRADE_LABELS, OUTCOME_LABELS
from app.services import dossier_zip, dossiers
from app.services.evidence import evidence_path
from app.timezones import localtime
from processes.errors import Forbidden, InvalidInput

logger = logging.getLogger(__name__)

bp = Blueprint(
    "archives", __name__, url_prefix="/archives", template_folder="templates"
)

RESULT_LABELS = {
    "approved": _l("Passed the review"),
    "failed": _l("Failed"),
    "rectification_failed": _l("Rectification failed"),
    **OUTCOME_LABELS,
}
PROBLEM_LABELS = {
    "changed": _l("Content changed"),
    "damaged": _l("Damaged inside the ZIP, cannot be read"),
    "missing": _l("Missing"),
    "extra": _l("Not in the manifest"),
    "not_frozen": _l("Differs from the frozen manifest"),
}


class AnnotationForm(FlaskForm):
    """A correction office staff add beside a frozen dossier."""

    corrects = StringField(
        _l("What it corrects (field or indicator code)"),
        render_kw={"maxlength": 120},
    )
    text = TextAreaField(_l("Correction"), render_kw={"rows": 4, "maxlength": 4000})


class CheckZipForm(FlaskForm):
    """A dossier ZIP someone wants checked against its manifest."""

    archive = FileField(
        _l("Dossier ZIP"), validators=[FileRequired(_l("Choose a ZIP to check."))]
    )


@bp.app_template_filter("dossier_time")
def dossier_time(value: str | None) -> str:
    """Show a time stored in a dossier document in the viewer's time zone."""
    if not value:
        return ""
    return localtime(datetime.fromisoformat(value))


@bp.context_processor
def archive_labels() -> dict:
    """Give the archive templates the labels of stored codes."""
    return {
        "decision_labels": DECISION_LABELS,
        "level_labels": LEVEL_LABELS,
        "grade_labels": GRADE_LABELS,
        "result_labels": RESULT_LABELS,
        "problem_labels": PROBLEM_LABELS,
        "event_label": event_label,
    }


@bp.get("/")
@login_required
def index() -> str:
    """List the dossiers in the viewer's scope, searched by unit, cycle, text."""
    try:
        filters = dossiers.read_filters(request.args)
    except InvalidInput as error:
        flash(error.message, "error")
        filters = dossiers.DossierFilters()
    listing = dossiers.search_dossiers(db.session, current_user, filters)

    return render_template(
        "archives/index.html", listing=listing, page_args=filters.as_args()
    )


@bp.get("/<int:dossier_id>")
@login_required
def show(dossier_id: int) -> str:
    """Show a frozen dossier with its files, manifest hash and corrections."""
    page = dossiers.dossier_page(db.session, current_user, dossier_id)
    return render_template("archives/dossier.html", page=page, form=AnnotationForm())


@bp.post("/<int:dossier_id>/annotations")
@login_required
def annotate(dossier_id: int) -> Response:
    """Add a correction beside a dossier, for office reviewers and administrators."""
    form = AnnotationForm()
    if not form.validate_on_submit():
        return _annotation_refused(dossier_id, form, _("The form expired; send again."))

    try:
        dossiers.annotate(
            db.session,
            current_user,
            dossier_id,
            form.text.data or "",
            form.corrects.data or "",
        )
    except InvalidInput as error:
        for name, message in (error.details.get("errors") or {}).items():
            if name in form._fields:
                form[name].errors = [message]
        return _annotation_refused(dossier_id, form, error.message)
    except Forbidden as error:
        return _annotation_refused(dossier_id, form, error.message, 403)

    flash(_("The correction was added beside the dossier."), "success")
    return redirect(url_for("archives.show", dossier_id=dossier_id, _anchor="notes"))


def _annotation_refused(
    dossier_id: int, form: AnnotationForm, message: str, status: int = 422
) -> Response:
    """Show the dossier again with the typed correction kept and the reason."""
    page = dossiers.dossier_page(db.session, current_user, dossier_id)
    html = render_template("archives/dossier.html", page=page, form=form, error=message)
    return make_response(html, status)


@bp.get("/<int:dossier_id>/files/<path:path>")
@login_required
def file(dossier_id: int, path: str) -> Response:
    """Send one evidence file of a dossier to someone who sees its unit."""
    found = dossiers.dossier_file(db.session, current_user, dossier_id, path)
    folder = Path(current_app.config["WENMING_UPLOAD_FOLDER"])

    response = send_file(
        evidence_path(folder, found.sha256),
        mimetype=found.content_type,
        as_attachment=not found.content_type.startswith("image/"),
        download_name=Path(found.path).name,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/<int:dossier_id>/dossier.json")
@login_required
def document(dossier_id: int) -> Response:
    """Send the frozen dossier document exactly as it was hashed."""
    dossier = dossiers.get_dossier(db.session, current_user, dossier_id)
    response = Response(dossier.document, mimetype="application/json")
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/<int:dossier_id>/download.zip")
@login_required
def download(dossier_id: int) -> Response:
    """Download the dossier as a ZIP with its manifest and an offline index page."""
    page = dossiers.dossier_page(db.session, current_user, dossier_id)
    with force_locale("zh_Hans"):
        index_html = render_template("archives/zip_index.html", page=page)
    folder = Path(current_app.config["WENMING_UPLOAD_FOLDER"])
    content = dossier_zip.build_zip(db.session, page.dossier, folder, index_html)

    unit = db.session.get(Unit, page.dossier.unit_id)
    cycle = db.session.get(Cycle, page.dossier.cycle_id)
    name = dossier_zip.zip_name(page.dossier, unit.name, cycle.name)
    response = Response(content, mimetype="application/zip")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="dossier-{dossier_id}.zip"; '
        f"filename*=UTF-8''{quote(name)}"
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/check", methods=["GET", "POST"])
@login_required
def check() -> Response | str:
    """Check an uploaded dossier ZIP and show which files changed or are missing."""
    form = CheckZipForm()
    report, error = None, None
    if form.validate_on_submit():
        try:
            content = form.archive.data.read()
            report = dossier_zip.verify_zip(content, db.session, current_user)
        except InvalidInput as refused:
            error = refused.message
    elif request.method == "POST":
        error = _("Choose a dossier ZIP to check.")

    html = render_template("archives/check.html", form=form, report=report, error=error)
    return make_response(html, 422 if error else 200)
