"""Instance pages: the diagram with the path taken, the timeline and the scores."""

from __future__ import annotations

import json

from flask import Blueprint, Response, render_template, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from app.extensions import db
from app.services import instance_pages
from app.services.inbox import TimelineEntry

bp = Blueprint(
    "instances", __name__, url_prefix="/instances", template_folder="templates"
)

EVENT_LABELS = {
    "instance.started": _l("Instance started"),
    "instance.archived": _l("Archived"),
    "dossier.frozen": _l("Dossier frozen"),
    "dossier.annotated": _l("Correction added to the dossier"),
    "instance.failed": _l("Instance stopped by an error"),
    "task.completed": _l("Step completed"),
    "task.claimed": _l("Task claimed"),
    "task.unclaimed": _l("Task released"),
    "task.assigned": _l("Task assigned"),
    "timer.fired": _l("Deadline timer fired"),
    "submission.draft_saved": _l("Submission draft saved"),
    "submission.signed_off": _l("Submission signed off"),
    "evidence.uploaded": _l("Evidence uploaded"),
    "review.recorded": _l("Review recorded"),
    "rectification.submitted": _l("Rectification submitted"),
    "rectification.verified": _l("Rectification verified"),
    "notification.queued": _l("Notification sent"),
    "escalation.raised": _l("Escalated to the office above"),
    "instance.migrated": _l("Moved to another version of the procedure"),
}

DECISION_LABELS = {
    "approve": _l("Approve"),
    "rectify": _l("Order rectification"),
    "fail": _l("Fail"),
    "return": _l("Return to the liaison"),
    "passed": _l("Rectification passed"),
    "redo": _l("Rectify again"),
}

LEVEL_LABELS = {
    "county": _l("County"),
    "city": _l("City"),
    "province": _l("Province"),
}

STATUS_LABELS = {
    "running": _l("Running"),
    "completed": _l("Finished"),
    "error": _l("Stopped by an error"),
}

DETAIL_LABELS = (
    ("title", _l("Step")),
    ("level", _l("Level")),
    ("decision", _l("Decision")),
    ("total_score", _l("Score")),
    ("final_score", _l("Final score")),
    ("grade", _l("Grade")),
    ("opinion", _l("Opinion")),
    ("indicator", _l("Indicator")),
    ("filename", _l("File")),
    ("error", _l("Error")),
    ("from_version", _l("From version")),
    ("to_version", _l("To version")),
)


@bp.route("/<int:instance_id>")
@login_required
def show(instance_id: int) -> str:
    """Show an instance: its diagram, timeline, materials and scores."""
    page = instance_pages.instance_page(db.session, current_user, instance_id)

    return render_template(
        "instances/show.html",
        page=page,
        view=page.view,
        materials=page.materials,
        diagram_url=url_for("instances.diagram", instance_id=instance_id),
        completed_ids=json.dumps(page.diagram.completed),
        current_ids=json.dumps(page.diagram.current),
        event_label=event_label,
        event_details=event_details,
        decision_labels=DECISION_LABELS,
        level_labels=LEVEL_LABELS,
        status_label=STATUS_LABELS.get(
            page.view.instance.status, page.view.instance.status
        ),
    )


@bp.route("/<int:instance_id>/diagram.xml")
@login_required
def diagram(instance_id: int) -> Response:
    """Return the stored diagram of the instance's process version."""
    xml = instance_pages.diagram_xml(db.session, current_user, instance_id)

    response = Response(xml, mimetype="application/xml")
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


def event_label(action: str) -> str:
    """Return a readable label for an audit action."""
    label = EVENT_LABELS.get(action)
    if label is not None:
        return str(label)
    return action.replace(".", " ").replace("_", " ").capitalize()


def event_details(entry: TimelineEntry) -> list[tuple[str, str]]:
    """Return the detail fields of an event worth showing, as label and value."""
    detail = entry.event.detail or {}
    shown = []
    for key, label in DETAIL_LABELS:
        value = detail.get(key)
        if value in (None, ""):
            continue
        if key == "decision":
            value = DECISION_LABELS.get(value, value)
        if key == "level":
            value = LEVEL_LABELS.get(value, value)
        shown.append((str(label), str(value)))
    return shown
