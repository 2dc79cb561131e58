"""Inbox pages: the tasks waiting for a person, saved views and notifications."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime
from urllib.parse import parse_qsl, urlencode

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.models import HumanTask, User, utcnow
from app.services import notifications, saved_filters, scope, tasks
from app.services.base import transaction
from app.services.inbox import DUE_WINDOWS, InboxPage, InboxQuery, inbox
from processes.errors import InvalidInput, NotFound, WenmingError

logger = logging.getLogger(__name__)

bp = Blueprint("inbox", __name__, url_prefix="/inbox", template_folder="templates")

LANE_LABELS = {
    "unit": _l("Unit"),
    "unit_leader": _l("Unit leader"),
    "county": _l("County"),
    "city": _l("City"),
    "province": _l("Province"),
    "office": _l("Office"),
}
DUE_LABELS = {"overdue": _l("Overdue"), "week": _l("Due in the next 7 days")}
SORT_LABELS = {
    "urgent": _l("Most urgent"),
    "due": _l("Due date"),
    "received": _l("Received"),
    "unit": _l("Unit"),
}
KIND_LABELS = {
    "task_arrived": _l("New task"),
    "task_returned": _l("Returned to you"),
    "assigned": _l("Assigned to you"),
    "escalation": _l("Deadline passed"),
    "rectification_ordered": _l("Rectification ordered"),
    "title_changed": _l("Title decision in effect"),
}
HOUR_SECONDS = 3600
DAY_HOURS = 24
PAGE_WINDOW = 2
ALL_FILTERS = (
    "cycle_id",
    "level",
    "office_id",
    "unit_type",
    "due",
    "q",
    "sort",
    "page",
    "per_page",
)


@bp.app_context_processor
def notification_bell() -> dict:
    """Give every page the signed-in user's unread notification count."""
    if not current_user or not current_user.is_authenticated:
        return {"unread_notifications": 0}
    if "unread_notifications" not in g:
        g.unread_notifications = _unread_count(current_user)
    return {"unread_notifications": g.unread_notifications}


@bp.get("/")
@login_required
def index() -> str:
    """List the tasks the user can act on, filtered, sorted and paged."""
    now = utcnow()
    args, errors, page = _readable_page(request.args, now)

    user = current_user
    query = InboxQuery.from_args(args)
    assignees = saved_filters.assignable_reviewers(
        db.session, user, [item.task for item in page.items]
    )
    return render_template(
        "inbox/index.html",
        page=page,
        query=query,
        args=args,
        errors=errors,
        now=now,
        choices=saved_filters.filter_choices(db.session, user),
        saved_views=saved_filters.list_filters(db.session, user),
        assignees=assignees,
        bulk_assignees=_distinct_people(assignees),
        is_office_admin=user.has_role("office_admin"),
        view=_current_view(),
        inbox_url=_url_builder(args),
        due_phrase=due_phrase,
        page_numbers=page_numbers(page),
        lane_labels=LANE_LABELS,
        due_labels=DUE_LABELS,
        sort_labels=SORT_LABELS,
        due_windows=DUE_WINDOWS,
    )


@bp.post("/tasks/<int:task_id>/claim")
@login_required
def claim(task_id: int) -> Response:
    """Claim one task and return to the same inbox view."""
    label = _task_label(task_id)
    try:
        tasks.claim(db.session, current_user, task_id)
    except WenmingError as error:
        flash(
            _("Could not claim %(task)s: %(reason)s", task=label, reason=error), "error"
        )
    else:
        flash(_("You claimed %(task)s.", task=label), "success")
    return _back()


@bp.post("/tasks/<int:task_id>/unclaim")
@login_required
def unclaim(task_id: int) -> Response:
    """Release one claimed task and return to the same inbox view."""
    label = _task_label(task_id)
    try:
        tasks.unclaim(db.session, current_user, task_id)
    except WenmingError as error:
        flash(
            _("Could not release %(task)s: %(reason)s", task=label, reason=error),
            "error",
        )
    else:
        flash(_("You released %(task)s.", task=label), "success")
    return _back()


@bp.post("/tasks/<int:task_id>/assign")
@login_required
def assign(task_id: int) -> Response:
    """Let an office administrator give one task to a reviewer."""
    label = _task_label(task_id)
    assignee_id = _assignee_id()
    try:
        if assignee_id is None:
            raise InvalidInput("choose the reviewer to assign the task to")
        task = tasks.assign(db.session, current_user, task_id, assignee_id)
    except WenmingError as error:
        flash(
            _("Could not assign %(task)s: %(reason)s", task=label, reason=error),
            "error",
        )
    else:
        name = db.session.get(User, task.claimed_by_id).display_name
        flash(
            _("%(task)s is now assigned to %(name)s.", task=label, name=name), "success"
        )
    return _back()


@bp.post("/bulk")
@login_required
def bulk() -> Response:
    """Claim or assign every selected task, then report what worked and what not."""
    action = request.form.get("action")
    task_ids = _selected_task_ids()
    assignee_id = _assignee_id()
    if not task_ids:
        flash(_("Select at least one task first."), "warning")
        return _back()
    if action not in ("claim", "assign") or (action == "assign" and not assignee_id):
        flash(_("Choose a bulk action, and a reviewer when assigning."), "warning")
        return _back()

    done, failures = 0, []
    for task_id in task_ids:
        label = _task_label(task_id)
        try:
            if action == "claim":
                tasks.claim(db.session, current_user, task_id)
            else:
                tasks.assign(db.session, current_user, task_id, assignee_id)
        except WenmingError as error:
            failures.append(f"{label}: {error}")
        else:
            done += 1

    _flash_bulk(done, failures)
    return _back()


@bp.post("/views")
@login_required
def save_view() -> Response:
    """Save the current filters under a name."""
    name = request.form.get("name", "")
    try:
        saved = saved_filters.save_filter(
            db.session, current_user, name, request.form.get("view", "")
        )
    except WenmingError as error:
        flash(_("Could not save the view: %(reason)s", reason=error), "error")
    else:
        flash(_("Saved the view “%(name)s”.", name=saved.name), "success")
    return _back()


@bp.post("/views/<int:filter_id>/delete")
@login_required
def delete_view(filter_id: int) -> Response:
    """Delete one of the user's saved views."""
    try:
        name = saved_filters.delete_filter(db.session, current_user, filter_id)
    except NotFound as error:
        flash(_("Could not delete the view: %(reason)s", reason=error), "error")
    else:
        flash(_("Deleted the view “%(name)s”.", name=name), "success")
    return _back()


@bp.get("/notifications")
@login_required
def notification_list() -> str:
    """List the user's recent notifications, newest first."""
    items = notifications.recent(db.session, current_user)
    return render_template(
        "inbox/notifications.html", items=items, kind_label=kind_label
    )


@bp.post("/notifications/read")
@login_required
def mark_all_read() -> Response:
    """Mark all of the user's notifications read."""
    with transaction(db.session):
        count = notifications.mark_read(db.session, current_user)
    flash(
        ngettext(
            "Marked %(num)d notification read.",
            "Marked %(num)d notifications read.",
            count,
        ),
        "success",
    )
    return redirect(url_for("inbox.notification_list"))


def due_phrase(due_at: datetime | None, now: datetime) -> tuple[str, bool]:
    """Say how far off a deadline is ("in 3 days", "2 days overdue"); tell if late."""
    if due_at is None:
        return _("No deadline"), False
    seconds = (due_at - now).total_seconds()
    hours = math.ceil(abs(seconds) / HOUR_SECONDS) or 1
    days = hours // DAY_HOURS
    if seconds >= 0:
        if days < 1:
            return ngettext("in %(num)d hour", "in %(num)d hours", hours), False
        return ngettext("in %(num)d day", "in %(num)d days", days), False
    if days < 1:
        return ngettext("%(num)d hour overdue", "%(num)d hours overdue", hours), True
    return ngettext("%(num)d day overdue", "%(num)d days overdue", days), True


def kind_label(kind: str) -> str:
    """Name a kind of notification for people."""
    if kind in KIND_LABELS:
        return str(KIND_LABELS[kind])
    if kind.endswith("reminder"):
        return _("Reminder")
    return kind


def page_numbers(page: InboxPage) -> list[int]:
    """Return the page numbers to link: the first, the last and those around now."""
    near = range(page.page - PAGE_WINDOW, page.page + PAGE_WINDOW + 1)
    wanted = {1, page.pages, *near}
    return sorted(n for n in wanted if 1 <= n <= page.pages)


def _readable_page(
    args: MultiDict, now: datetime
) -> tuple[MultiDict, dict[str, str], InboxPage]:
    """Drop the invalid filters, keeping their errors, and return the page."""
    errors: dict[str, str] = {}
    for _attempt in range(len(ALL_FILTERS) + 1):
        try:
            query = InboxQuery.from_args(args)
            return args, errors, inbox(db.session, current_user, query, now=now)
        except InvalidInput as error:
            bad = dict(error.details.get("errors", {})) or dict.fromkeys(
                ALL_FILTERS, str(error)
            )
            errors.update(bad)
            args = MultiDict(
                [(k, v) for k, v in args.items(multi=True) if k not in bad]
            )
    raise InvalidInput("the task list filters are not valid")


def _distinct_people(assignees: dict[int, list[User]]) -> list[User]:
    people = {person.id: person for group in assignees.values() for person in group}
    return sorted(people.values(), key=lambda person: person.display_name)


def _unread_count(user: User) -> int:
    try:
        return notifications.unread_count(db.session, user)
    except SQLAlchemyError:
        logger.exception("cannot count unread notifications")
        db.session.rollback()
        return 0


def _url_builder(args: MultiDict) -> Callable[..., str]:
    base = {k: v for k, v in args.items() if v and k != "lang"}

    def inbox_url(**changes: object) -> str:
        merged = dict(base)
        if "page" not in changes:
            merged.pop("page", None)
        for name, value in changes.items():
            if value in (None, ""):
                merged.pop(name, None)
            else:
                merged[name] = str(value)
        encoded = urlencode(merged)
        return url_for("inbox.index") + (f"?{encoded}" if encoded else "")

    return inbox_url


def _current_view() -> str:
    return urlencode(parse_qsl(request.query_string.decode("utf-8", "replace")))


def _back() -> Response:
    raw = request.form.get("view", "")
    pairs = [(k, v) for k, v in parse_qsl(raw) if k != "lang"]
    encoded = urlencode(pairs)
    return redirect(url_for("inbox.index") + (f"?{encoded}" if encoded else ""))


def _task_label(task_id: int) -> str:
    task = db.session.get(HumanTask, task_id)
    if task is None or not scope.sees_path(current_user, task.office_path):
        return _("task #%(id)d", id=task_id)
    unit = task.unit.name if task.unit else ""
    return f"“{task.title}”" + (f" ({unit})" if unit else "")


def _assignee_id() -> int | None:
    value = request.form.get("assignee_id", "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _selected_task_ids() -> list[int]:
    values = request.form.getlist("task_ids")
    return sorted({int(v) for v in values if v.isascii() and v.isdigit()})


def _flash_bulk(done: int, failures: list[str]) -> None:
    if done:
        flash(
            ngettext("%(num)d task done.", "%(num)d tasks done.", done),
            "success",
        )
    if failures:
        flash(
            ngettext(
                "%(num)d task failed: %(reasons)s",
                "%(num)d tasks failed: %(reasons)s",
                len(failures),
                reasons="; ".join(failures),
            ),
            "error",
        )
