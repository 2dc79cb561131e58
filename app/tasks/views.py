"""Task pages: show a human task with its form, save drafts, upload evidence."""

from __future__ import annotations

import logging
from functools import partial
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
from flask_login import current_user, login_required
from werkzeug.routing import BuildError

from app.extensions import db
from app.services import (
    evidence,
    ledger_submissions,
    public_steps,
    rectification,
    scope,
    submissions,
    task_pages,
    tasks,
)
from app.services.markdown import render_markdown
from app.timezones import viewer_timezone
from forms.task_forms import (
    FormContext,
    TaskForm,
    attach_errors,
    build_form,
    expected_version,
    form_data,
)
from processes.errors import Conflict, InvalidInput

logger = logging.getLogger(__name__)

bp = Blueprint("tasks", __name__, url_prefix="/tasks", template_folder="templates")


@bp.get("/<int:task_id>")
@login_required
def show(task_id: int) -> str:
    """Show a task: its header, instructions, history and form."""
    task = _task(task_id)
    page = task_pages.load_page(db.session, task)
    form = build_form(_context(page))
    return _render(page, form)


@bp.post("/<int:task_id>")
@login_required
def complete(task_id: int) -> Response:
    """Complete the task with the typed form; errors re-render it with the values."""
    task = _task(task_id)
    page = task_pages.load_page(db.session, task)
    context = _context(page)
    form = build_form(context)
    if task.form_key in _FILE_TAKERS:
        failed = _FILE_TAKERS[task.form_key](task.id, page)
        if failed:
            return _refused(task.id, form, failed)

    try:
        tasks.complete(
            db.session,
            current_user,
            task.id,
            form_data(form, context),
            expected_version=expected_version(form),
        )
    except InvalidInput as error:
        return _refused(task.id, form, error)
    except Conflict as error:
        return _conflict(task.id, form, error)

    flash(_("Done: “%(title)s” was sent on.", title=task.title), "success")
    return redirect(_inbox_url())


@bp.post("/<int:task_id>/draft")
@login_required
def draft(task_id: int) -> Response:
    """Save what the liaison typed so far, with any files chosen."""
    task = _task(task_id)
    page = task_pages.load_page(db.session, task)
    context = _context(page)
    if task.form_key != "unit_submission":
        return _not_a_submission(task)
    form = build_form(context)
    failed = _attach_chosen_files(task.id, page)
    if failed:
        return _refused(task.id, form, failed)

    try:
        submissions.save_draft(
            db.session, current_user, task.id, form_data(form, context)["responses"]
        )
    except InvalidInput as error:
        return _refused(task.id, form, error)

    flash(_("Draft saved."), "success")
    return redirect(url_for("tasks.show", task_id=task.id))


@bp.post("/<int:task_id>/evidence")
@login_required
def upload(task_id: int) -> Response:
    """Attach the chosen evidence files and keep the typed values as a draft."""
    task = _task(task_id)
    page = task_pages.load_page(db.session, task)
    if task.form_key != "unit_submission":
        return _not_a_submission(task)
    form = build_form(_context(page))
    failed = _attach_chosen_files(task.id, page)
    if failed:
        return _refused(task.id, form, failed)

    try:
        responses = form_data(form, _context(page))["responses"]
        submissions.save_draft(db.session, current_user, task.id, responses)
    except InvalidInput as error:
        return _refused(task.id, form, error)

    flash(_("Files uploaded and draft saved."), "success")
    anchor = request.form.get("upload", "")
    return redirect(url_for("tasks.show", task_id=task.id, _anchor=anchor or None))


@bp.get("/evidence/<int:evidence_id>")
@login_required
def download(evidence_id: int) -> Response:
    """Send an evidence file to someone who sees its unit."""
    found = task_pages.evidence_for(db.session, current_user, evidence_id)
    folder = Path(current_app.config["WENMING_UPLOAD_FOLDER"])
    response = send_file(
        evidence.evidence_path(folder, found.sha256),
        mimetype=found.content_type,
        as_attachment=not found.content_type.startswith("image/"),
        download_name=found.filename,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _task(task_id: int):
    """Load a task the user sees and may act on (404 outside scope, 403 lane)."""
    task = tasks.get_task(db.session, current_user, task_id)
    scope.check_can_act(current_user, task)
    return task


def _context(page: task_pages.TaskPage) -> FormContext:
    items = list(page.order.items) if page.order is not None else []
    return FormContext(
        form_key=page.task.form_key,
        lock_version=page.lock_version,
        timezone=viewer_timezone(),
        indicators=page.catalog.indicators if page.catalog else (),
        answers=page.answers,
        items=items,
    )


def _store_uploads(targets) -> dict[str, str]:
    """Store the files chosen in each (input, error key, attach) target.

    Returns the errors of refused files by error key; accepted files stay stored.
    """
    max_bytes = current_app.config["WENMING_MAX_UPLOAD_MB"] * 1024 * 1024
    folder = Path(current_app.config["WENMING_UPLOAD_FOLDER"])
    errors: dict[str, str] = {}
    for input_name, error_key, attach in targets:
        for upload in request.files.getlist(input_name):
            if not upload or not upload.filename:
                continue
            try:
                attach(
                    filename=upload.filename,
                    content=upload.read(),
                    upload_folder=folder,
                    max_bytes=max_bytes,
                )
            except InvalidInput as error:
                errors.setdefault(error_key, error.message)
    return errors


def _attach_chosen_files(task_id: int, page: task_pages.TaskPage) -> dict[str, str]:
    """Store the files chosen and attach the ledger entries ticked, per indicator."""
    indicators = page.catalog.indicators if page.catalog else ()
    errors = _store_uploads(
        (
            f"files_{indicator.code}",
            f"{indicator.code}.evidence",
            partial(
                submissions.attach_evidence,
                db.session,
                current_user,
                task_id,
                indicator.code,
            ),
        )
        for indicator in indicators
    )
    ledger_errors = ledger_submissions.attach_from_form(
        db.session, current_user, task_id, request.form
    )
    return {**ledger_errors, **errors}


def _attach_item_files(task_id: int, page: task_pages.TaskPage) -> dict[str, str]:
    """Store the files chosen per rectification item; return refusals by item."""
    items = page.order.items if page.order else ()
    return _store_uploads(
        (
            f"files_item_{item.id}",
            f"items.{item.id}.evidence",
            partial(
                rectification.attach_item_evidence,
                db.session,
                current_user,
                task_id,
                item.id,
            ),
        )
        for item in items
    )


def _attach_report_photos(task_id: int, page: task_pages.TaskPage) -> dict[str, str]:
    """Store the photos of a public report's rectification; return refusals."""
    attach = partial(
        public_steps.attach_rectification_photo, db.session, current_user, task_id
    )
    return _store_uploads([("files_public_rectify", "photos", attach)])


_FILE_TAKERS = {
    "unit_submission": _attach_chosen_files,
    "rectification": _attach_item_files,
    "public_rectify": _attach_report_photos,
}


def _refused(task_id: int, form: TaskForm, error) -> Response:
    """Re-render the page with the errors beside the fields, status 422."""
    errors = error if isinstance(error, dict) else _field_errors(error)
    page = task_pages.load_page(
        db.session, tasks.get_task(db.session, current_user, task_id)
    )
    unplaced = attach_errors(form, errors)
    summary = _("Some input needs correcting. Nothing was sent on.")
    return make_response(_render(page, form, errors, unplaced, summary), 422)


def _conflict(task_id: int, form: TaskForm, error: Conflict) -> Response:
    """Re-render the page, values kept, saying someone else acted first."""
    page = task_pages.load_page(
        db.session, tasks.get_task(db.session, current_user, task_id)
    )
    form.expected_version.data = str(page.lock_version)
    message = _(
        "Someone else acted on this task after you opened it (%(detail)s). "
        "Your input is kept below; check the current state before sending again.",
        detail=error.message,
    )
    return make_response(_render(page, form, {}, {}, message, conflict=True), 409)


def _field_errors(error: InvalidInput) -> dict[str, str]:
    details = getattr(error, "details", None) or {}
    errors = details.get("errors") if isinstance(details, dict) else None
    return dict(errors) if errors else {"": error.message}


def _not_a_submission(task) -> Response:
    flash(_("This task takes no unit submission."), "error")
    return redirect(url_for("tasks.show", task_id=task.id))


def _render(
    page: task_pages.TaskPage,
    form: TaskForm,
    errors: dict | None = None,
    unplaced: dict | None = None,
    summary: str | None = None,
    *,
    conflict: bool = False,
) -> str:
    return render_template(
        "tasks/show.html",
        page=page,
        task=page.task,
        form=form,
        errors=errors or {},
        unplaced=unplaced or {},
        summary=summary,
        conflict=conflict,
        instructions=render_markdown(page.task.instructions),
    )


def _inbox_url() -> str:
    try:
        return url_for("inbox.index")
    except BuildError:
        return url_for("main.index")
