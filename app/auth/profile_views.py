"""The profile page: who the user is, and the API tokens they hold."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import PasswordField, RadioField, SelectChoice, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length

from app.auth.views import bp
from app.extensions import db
from app.main.views import LEVEL_LABELS, ROLE_LABELS
from app.models import User
from app.services import notification_mail, tokens
from processes.errors import InvalidInput, Unauthorized


class TokenForm(FlaskForm):
    """A name for a new API token and the user's password, entered again."""

    name = StringField(
        _l("Token name"),
        validators=[Length(max=tokens.MAX_NAME_CHARS)],
        render_kw={"autocomplete": "off"},
    )
    password = PasswordField(
        _l("Your password"),
        validators=[DataRequired(_l("Enter your password.")), Length(max=200)],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField(_l("Create token"))


EMAIL_MODE_LABELS = {
    "immediate": _l("Immediately, one e-mail per notification"),
    "digest": _l("Once a day, in a digest"),
    "off": _l("No e-mail; notifications in the app only"),
}


class EmailModeForm(FlaskForm):
    """How the user wants to hear of notifications by e-mail."""

    email_mode = RadioField(
        _l("E-mail about notifications"),
        choices=[SelectChoice(m, label) for m, label in EMAIL_MODE_LABELS.items()],
        validators=[InputRequired(_l("Choose how you want to get e-mail."))],
    )
    save = SubmitField(_l("Save preference"))


@bp.route("/profile")
@login_required
def profile() -> str:
    """Show the signed-in user's account, e-mail preference and API tokens."""
    return _render_profile(TokenForm())


@bp.route("/profile/email", methods=["POST"])
@login_required
def save_email_mode() -> Response | tuple[str, int]:
    """Save how the signed-in user wants e-mail about notifications."""
    form = EmailModeForm()
    if not form.validate_on_submit():
        return _render_profile(TokenForm(formdata=None), email_form=form), 400

    user = db.session.get(User, current_user.id)
    notification_mail.set_email_mode(db.session, user, form.email_mode.data)

    label = EMAIL_MODE_LABELS[form.email_mode.data]
    flash(_("E-mail preference saved: %(mode)s.", mode=label), "success")
    return redirect(url_for("auth.profile"))


@bp.route("/profile/tokens", methods=["POST"])
@login_required
def create_token() -> tuple[str, int] | str:
    """Issue an API token after the password is entered again; show it once."""
    form = TokenForm()
    if not form.validate_on_submit():
        return _render_profile(form), 400

    try:
        token, record = tokens.issue_token(
            db.session,
            username=current_user.username,
            password=form.password.data,
            name=form.name.data or "",
            remote_addr=request.remote_addr,
        )
    except (Unauthorized, InvalidInput) as error:
        db.session.rollback()
        form.password.errors = [
            _("The token was not created: %(why)s", why=error.message)
        ]
        return _render_profile(form), 400

    flash(_("Token “%(prefix)s…” created.", prefix=record.prefix), "success")
    return _render_profile(TokenForm(formdata=None), new_token=token)


@bp.route("/profile/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int) -> Response:
    """Revoke one of the user's own API tokens."""
    record = tokens.revoke_token(db.session, current_user, token_id)

    flash(_("Token “%(prefix)s…” revoked.", prefix=record.prefix), "info")
    return redirect(url_for("auth.profile"))


def _render_profile(
    form: TokenForm,
    new_token: str | None = None,
    email_form: EmailModeForm | None = None,
) -> str:
    user = current_user
    if email_form is None:
        email_form = EmailModeForm(formdata=None, email_mode=user.email_mode)
    return render_template(
        "auth/profile.html",
        user=user,
        roles=[ROLE_LABELS.get(role, role) for role in user.roles or []],
        level_labels=LEVEL_LABELS,
        tokens=tokens.list_tokens(db.session, user),
        form=form,
        new_token=new_token,
        email_form=email_form,
    )
