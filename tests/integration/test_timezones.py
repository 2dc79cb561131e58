"""Times are shown in the time zone of the viewer's office."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import render_template_string
from flask_login import login_user

NOON_UTC = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)


def shown_to(app, user) -> str:
    """Render a UTC time as the given user would see it."""
    with app.test_request_context("/"):
        if user is not None:
            login_user(user)
        return render_template_string("{{ at | localtime }}", at=NOON_UTC)


def test_default_zone_without_a_signed_in_user(app):
    """Anonymous pages use the configured default, Asia/Shanghai."""
    assert shown_to(app, None) == "2026-10-31 20:00"


def test_office_zone_for_office_staff_and_unit_liaisons(app, session, world):
    """An office in another zone shows its staff and its units' liaisons local times."""
    world.offices["X01"].timezone = "Asia/Urumqi"
    session.commit()
    assert shown_to(app, world.users["county"]) == "2026-10-31 18:00"
    assert shown_to(app, world.users["school"]) == "2026-10-31 18:00"
    assert shown_to(app, world.users["city"]) == "2026-10-31 20:00"


def test_unknown_zone_falls_back_to_the_default(app, session, world):
    """A misspelt office zone does not break pages; the default is used."""
    world.offices["X01"].timezone = "Mars/Olympus"
    session.commit()
    assert shown_to(app, world.users["county"]) == "2026-10-31 20:00"
