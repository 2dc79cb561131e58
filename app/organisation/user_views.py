"""User pages of the organisation area: accounts, roles, passwords, deactivation."""

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
from flask_login import current_user, login_required
from wtforms import SelectChoice

from app.extensions import db
from app.main.views import ROLE_LABELS
from app.models import User
from app.models.organisation import ROLES
from app.organisation.forms import NewUserForm, UserForm
from app.organisation.messages import show_on_form
from app.services import organisation_admin, unit_admin, user_admin
from app.services.base import transaction
from processes.errors import InvalidInput

logger = logging.getLogger(__name__)

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.app_context_processor
def user_labels() -> dict:
    """Give templates the labels of roles."""
    return {"role_labels": ROLE_LABELS}


@bp.get("/")
@login_required
def index() -> str:
    """List the accounts of the subtree, of one office or of one unit."""
    filters = user_admin.read_filters(request.args)
    listing = user_admin.list_users(db.session, current_user, filters)

    return render_template(
        "organisation/users.html",
        listing=listing,
        may_manage={
            u.id: user_admin.may_manage(current_user, u) for u in listing.users
        },
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> str | Response:
    """Add an account; its first password is generated and shown once."""
    form = NewUserForm()
    _offer_choices(form)
    if request.method == "GET":
        _preset_scope(form)
    if form.validate_on_submit():
        created = _created_user(form)
        if created is not None:
            user, password = created
            return _password_page(user, password, created=True)
    elif request.method == "POST":
        flash(_("The account was not added; correct the marked fields."), "error")

    status = 422 if request.method == "POST" else 200
    return _form_page(form, None), status


def _preset_scope(form: NewUserForm) -> None:
    """Fill in the office or unit the page was opened for."""
    unit_id = request.args.get("unit", type=int)
    office_id = request.args.get("office", type=int)
    if unit_id:
        unit = unit_admin.get_unit(db.session, current_user, unit_id)
        form.unit_code.data = unit.code
        form.roles.data = ["liaison"]
    elif office_id:
        office = organisation_admin.managed_office(db.session, current_user, office_id)
        form.office_code.data = office.code
        form.roles.data = ["reviewer"]


def _created_user(form: NewUserForm) -> tuple[User, str] | None:
    values = _account_values(form)
    values["username"] = form.username.data
    try:
        with transaction(db.session):
            return user_admin.create_user(db.session, current_user, values)
    except InvalidInput as error:
        show_on_form(form, error)
    return None


@bp.route("/<int:user_id>/edit", methods=["GET", "POST"])
@login_required
def edit(user_id: int) -> str | Response:
    """Change an account's name, e-mail address, roles and office or unit."""
    user = user_admin.get_user(db.session, current_user, user_id)
    form = UserForm(data=_user_data(user))
    _offer_choices(form)
    if form.validate_on_submit():
        try:
            with transaction(db.session):
                user_admin.update_user(
                    db.session, current_user, user.id, _account_values(form)
                )
        except InvalidInput as error:
            show_on_form(form, error)
        else:
            flash(_("Account %(name)s saved.", name=user.username), "success")
            return redirect(url_for(".index"))
    elif request.method == "POST":
        flash(_("The account was not saved; correct the marked fields."), "error")

    status = 422 if request.method == "POST" else 200
    return _form_page(form, user), status


def _user_data(user: User) -> dict:
    return {
        "display_name": user.display_name,
        "email": user.email or "",
        "roles": list(user.roles or []),
        "office_code": user.office.code if user.office else "",
        "unit_code": user.unit.code if user.unit else "",
    }


def _account_values(form: UserForm) -> dict:
    return {
        "display_name": form.display_name.data,
        "email": form.email.data,
        "roles": form.roles.data or [],
        "office_code": form.office_code.data,
        "unit_code": form.unit_code.data,
    }


def _offer_choices(form: UserForm) -> None:
    """Offer the offices of the subtree, and the administrator role to admins."""
    offices = organisation_admin.managed_offices(db.session, current_user)
    form.office_code.choices = [SelectChoice("", _("None (a unit's account)"))] + [
        SelectChoice(office.code, f"{office.name} ({office.code})")
        for office in offices
    ]
    grantable = [
        role
        for role in ROLES
        if role != "admin" or organisation_admin.is_system_admin(current_user)
    ]
    form.roles.choices = [SelectChoice(role, ROLE_LABELS[role]) for role in grantable]


def _form_page(form: UserForm, user: User | None) -> str:
    return render_template(
        "organisation/user_form.html",
        form=form,
        user=user,
        may_manage=user is None or user_admin.may_manage(current_user, user),
        units=unit_admin.unit_choices(db.session, current_user),
    )


@bp.post("/<int:user_id>/password")
@login_required
def reset_password(user_id: int) -> Response:
    """Give the account a new generated password and show it once."""
    with transaction(db.session):
        password = user_admin.reset_password(db.session, current_user, user_id)
    user = db.session.get(User, user_id)
    return _password_page(user, password, created=False)


def _password_page(user: User, password: str, *, created: bool) -> Response:
    """Show a password once; it is in this page only, never stored or cached."""
    page = render_template(
        "organisation/password.html", user=user, password=password, created=created
    )
    response = make_response(page, 201 if created else 200)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/<int:user_id>/active")
@login_required
def set_active(user_id: int) -> Response:
    """Deactivate an account, or reactivate it."""
    active = request.form.get("active") == "1"
    with transaction(db.session):
        user = user_admin.set_active(db.session, current_user, user_id, active)
        name = user.username
    if active:
        flash(_("Account %(name)s is active again.", name=name), "success")
    else:
        flash(
            _("Account %(name)s is deactivated; it cannot sign in.", name=name),
            "success",
        )
    return redirect(url_for(".edit", user_id=user_id))
