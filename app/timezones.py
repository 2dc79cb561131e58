"""Showing stored UTC times in the time zone of the person looking at them."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from flask import current_app, has_request_context
from flask_login import current_user


def localtime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Show a stored UTC datetime in the viewer's office time zone."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(ZoneInfo(viewer_timezone())).strftime(fmt)


def viewer_timezone() -> str:
    """Return the time zone of the signed-in person's office, else the default."""
    default = current_app.config["WENMING_TIMEZONE"]
    if not has_request_context() or not current_user.is_authenticated:
        return default
    office = current_user.office or (current_user.unit and current_user.unit.office)
    zone = getattr(office, "timezone", None)
    return zone if zone in _known_zones() else default


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())
