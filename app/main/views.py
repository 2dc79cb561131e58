"""The home page and the health check."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, render_template
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.models import HumanTask, User
from app.services.scope import actionable_filter

logger = logging.getLogger(__name__)

bp = Blueprint("main", __name__, template_folder="templates")

ROLE_LABELS = {
    "admin": _l("System administrator"),
    "office_admin": _l("Office administrator"),
    "reviewer": _l("Reviewer"),
    "liaison": _l("Unit liaison"),
    "unit_leader": _l("Unit leader"),
}

LEVEL_LABELS = {
    "province": _l("Province"),
    "city": _l("City"),
    "county": _l("County"),
}


@bp.route("/")
@login_required
def index() -> str:
    """Show who is signed in and how many tasks wait for them."""
    user = current_user
    roles = [ROLE_LABELS.get(role, role) for role in user.roles or []]
    return render_template(
        "main/index.html",
        user=user,
        roles=roles,
        level_labels=LEVEL_LABELS,
        open_task_count=open_task_count(user),
    )


@bp.route("/healthz")
def healthz() -> tuple[Response, int]:
    """Report whether the application and its database answer."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        logger.exception("health check cannot reach the database")
        db.session.rollback()
        return jsonify(status="error", database="unavailable"), 503
    return jsonify(status="ok", database="ok"), 200


def open_task_count(user: User) -> int:
    """Count the ready human tasks the user may act on."""
    query = (
        select(func.count(HumanTask.id))
        .where(HumanTask.state == "ready")
        .where(actionable_filter(user))
    )
    return db.session.scalar(query) or 0
