"""The profile page: a user chooses immediate e-mail, a daily digest or none."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.models import AuditEvent, User
from app.services.base import transaction
from tests.factories import PASSWORD


def sign_in(client, username: str) -> None:
    """Sign in through the login form and switch the pages to English."""
    response = client.post(
        "/auth/login", data={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 302
    client.get("/auth/profile?lang=en")


def mode_of(session, username: str) -> str:
    """Return a user's stored e-mail preference, freshly read."""
    session.expire_all()
    user = session.scalars(select(User).where(User.username == username)).one()
    return user.email_mode


def checked_mode(html: str) -> str:
    """Return the value of the checked e-mail preference on the page."""
    [value] = re.findall(r'<input checked[^>]*value="(\w+)"', html) or re.findall(
        r'<input[^>]*value="(\w+)"[^>]*checked', html
    )
    return value


def test_profile_shows_address_and_current_choice(client, session, world):
    """The profile shows the e-mail address on file and the choice in force."""
    with transaction(session):
        world.users["hospital"].email = "liaison@hospital.example"
    sign_in(client, "hospital")

    page = client.get("/auth/profile").text

    assert "liaison@hospital.example" in page
    assert "Once a day, in a digest" in page
    assert checked_mode(page) == "immediate"


def test_choosing_the_digest_saves_flashes_and_audits(client, session, world):
    """Saving "daily digest" keeps it, says so, and leaves an audit entry."""
    sign_in(client, "hospital")

    response = client.post(
        "/auth/profile/email", data={"email_mode": "digest"}, follow_redirects=True
    )

    assert response.status_code == 200
    assert "E-mail preference saved: Once a day, in a digest." in response.text
    assert checked_mode(response.text) == "digest"
    assert mode_of(session, "hospital") == "digest"
    [event] = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "user.email_mode_changed")
    ).all()
    assert event.actor_id == world.users["hospital"].id
    assert (event.detail["previous"], event.detail["mode"]) == ("immediate", "digest")


def test_choice_changes_only_the_signed_in_user(client, session, world):
    """A user's choice never touches anyone else's, whatever the form carries."""
    sign_in(client, "hospital")

    client.post(
        "/auth/profile/email",
        data={"email_mode": "off", "user_id": world.users["school"].id},
    )

    assert mode_of(session, "hospital") == "off"
    assert mode_of(session, "school") == "immediate"


def test_unknown_choice_is_refused_and_nothing_changes(client, session, world):
    """A made-up preference is refused with a message; the old one stays."""
    sign_in(client, "hospital")

    response = client.post("/auth/profile/email", data={"email_mode": "hourly"})

    assert response.status_code == 400
    assert "Not a valid choice" in response.text
    assert mode_of(session, "hospital") == "immediate"


def test_form_without_csrf_token_is_refused(app, client, session, world):
    """With CSRF protection on, a post without the form's token changes nothing."""
    sign_in(client, "hospital")
    app.config["WTF_CSRF_ENABLED"] = True

    response = client.post("/auth/profile/email", data={"email_mode": "off"})

    assert response.status_code == 400
    assert mode_of(session, "hospital") == "immediate"


def test_signed_out_visitor_is_sent_to_sign_in(client, world):
    """Nobody can change a preference without signing in."""
    response = client.post("/auth/profile/email", data={"email_mode": "off"})

    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]
