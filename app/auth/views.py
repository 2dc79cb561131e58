"""Sign-in and sign-out pages."""

from __future__ import annotations

import math
from urllib.parse import urlsplit

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
from flask_login import current_user, login_required, login_user, logout_user

from app.auth.forms import LoginForm
from app.auth.signin import RATE_LIMITED, SignInResult, record_sign_out, sign_in
from app.errors import error_response, wants_json
from app.extensions import db
from app.models import utcnow

bp = Blueprint("auth", __name__, url_prefix="/auth", template_folder="templates")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    """Show the sign-in form and sign the person in with valid credentials."""
    next_url = safe_next_url(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or url_for("main.index"))

    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form, next_url=next_url)

    result = sign_in(
        db.session, form.username.data, form.password.data, request.remote_addr
    )
    db.session.commit()
    if not result.ok:
        flash(failure_message(result), "error")
        return render_template("auth/login.html", form=form, next_url=next_url)

    login_user(result.user)
    return redirect(next_url or url_for("main.index"))


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    """Sign the current user out."""
    record_sign_out(db.session, current_user, request.remote_addr)
    db.session.commit()

    logout_user()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


def failure_message(result: SignInResult) -> str:
    """Say why sign-in failed without revealing whether the account exists."""
    if result.reason == RATE_LIMITED:
        seconds = (result.retry_at - utcnow()).total_seconds()
        minutes = max(1, math.ceil(seconds / 60))
        return _(
            "Too many failed sign-in attempts. Try again in %(minutes)d minutes.",
            minutes=minutes,
        )
    if result.reason == "inactive":
        return _("This account is disabled. Ask your office administrator.")
    return _("Wrong user name or password.")


def safe_next_url(target: str | None) -> str | None:
    """Return the target if it is a path on this site, else None."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    if any(ord(char) < 32 for char in target):
        return None
    return target


def unauthorized() -> Response:
    """Send an anonymous visitor to the sign-in page, or answer 401 to the API."""
    if wants_json():
        return error_response(401, "Sign in to use this resource.")

    flash(_("Please sign in to see this page."), "info")
    full_path = request.full_path.rstrip("?")
    return redirect(url_for("auth.login", next=full_path))


# The profile pages register their routes on this blueprint.
from app.auth import profile_views  # noqa: E402, F401
