"""Organisation administration pages: the office tree, offices, units and users."""

from __future__ import annotations

import logging

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

from app.extensions import db
from app.main.views import LEVEL_LABELS
from app.models import Office
from app.organisation.forms import OfficeForm
from app.organisation.messages import show_on_form
from app.organisation.unit_views import bp as units_bp
from app.organisation.user_views import bp as users_bp
from app.services import organisation_admin
from app.services.base import transaction
from processes.errors import InvalidInput

logger = logging.getLogger(__name__)

bp = Blueprint(
    "organisation",
    __name__,
    url_prefix="/admin/organisation",
    template_folder="templates",
)
bp.register_blueprint(units_bp)
bp.register_blueprint(users_bp)

ACTION_LABELS = {
    "office.created": _l("Office added"),
    "office.updated": _l("Office changed"),
    "unit.created": _l("Unit added"),
    "unit.updated": _l("Unit changed"),
    "unit.moved": _l("Unit moved to another office"),
    "user.created": _l("Account added"),
    "user.updated": _l("Account changed"),
    "user.password_reset": _l("Password reset"),
    "user.deactivated": _l("Account deactivated"),
    "user.reactivated": _l("Account reactivated"),
}


@bp.app_context_processor
def organisation_labels() -> dict:
    """Give the organisation templates the labels of office levels."""
    return {"office_level_labels": LEVEL_LABELS}


@bp.get("/")
@login_required
def index() -> str:
    """Show the office tree of the user's subtree and its latest changes."""
    tree = organisation_admin.office_tree(db.session, current_user)
    changes = organisation_admin.recent_changes(db.session, current_user)

    return render_template(
        "organisation/index.html",
        tree=tree,
        changes=changes,
        action_labels=ACTION_LABELS,
        may_add_province=organisation_admin.is_system_admin(current_user),
    )


@bp.route("/offices/new", methods=["GET", "POST"])
@login_required
def office_new() -> str | Response:
    """Add an office under one of the subtree; its level follows the parent."""
    parent_id = request.args.get("parent", type=int)
    parent = organisation_admin.office_parent(db.session, current_user, parent_id)
    level = organisation_admin.child_level(parent)
    form = OfficeForm()
    if form.validate_on_submit():
        office = _saved_office(form, None, parent_id)
        if office is not None:
            flash(_("Office %(name)s added.", name=office.name), "success")
            return redirect(url_for("organisation.index"))
    elif request.method == "POST":
        flash(_("The office was not added; correct the marked fields."), "error")

    status = 422 if request.method == "POST" else 200
    page = render_template(
        "organisation/office_form.html",
        form=form,
        office=None,
        parent=parent,
        level=level,
        timezones=sorted(organisation_admin.known_timezones()),
    )
    return page, status


@bp.route("/offices/<int:office_id>/edit", methods=["GET", "POST"])
@login_required
def office_edit(office_id: int) -> str | Response:
    """Change an office's name, code and time zone."""
    office = organisation_admin.managed_office(db.session, current_user, office_id)
    form = OfficeForm(obj=office)
    if form.validate_on_submit():
        saved = _saved_office(form, office, None)
        if saved is not None:
            flash(_("Office %(name)s saved.", name=saved.name), "success")
            return redirect(url_for("organisation.index"))
    elif request.method == "POST":
        flash(_("The office was not saved; correct the marked fields."), "error")

    status = 422 if request.method == "POST" else 200
    page = render_template(
        "organisation/office_form.html",
        form=form,
        office=office,
        parent=office.parent,
        level=office.level,
        timezones=sorted(organisation_admin.known_timezones()),
    )
    return page, status


def _saved_office(
    form: OfficeForm, office: Office | None, parent_id: int | None
) -> Office | None:
    """Create or change the office from the form; put refusals on the form."""
    values = {
        "name": form.name.data,
        "code": form.code.data,
        "timezone": form.timezone.data,
    }
    try:
        with transaction(db.session):
            if office is None:
                return organisation_admin.create_office(
                    db.session, current_user, parent_id=parent_id, **values
                )
            return organisation_admin.update_office(
                db.session, current_user, office.id, **values
            )
    except InvalidInput as error:
        show_on_form(form, error)
    return None
