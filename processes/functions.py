"""The functions diagrams may call, exposed by name to the script environment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    TimerEventDefinition as SpiffTimerEventDefinition,
)

from processes import effects

OUTCOMES = ("approved", "failed", "rectification_failed")
TITLE_DECISIONS = ("keep", "yellow_card", "rectify", "revoke")


def parse_instant(value: str) -> datetime:
    """Parse an ISO 8601 date-time; naive values are taken as UTC."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_duration(duration: str, start: datetime) -> timedelta:
    """Return the length of an ISO 8601 duration counted from `start`."""
    parsed = SpiffTimerEventDefinition.parse_iso_duration(duration)
    return SpiffTimerEventDefinition.get_timedelta_from_start(parsed, start)


def now() -> str:
    """Return the current time as an ISO 8601 UTC string."""
    return datetime.now(UTC).isoformat()


def add_duration(instant: str, duration: str) -> str:
    """Return the instant plus an ISO 8601 duration such as "P7D"."""
    start = parse_instant(instant)
    return (start + parse_duration(duration, start)).isoformat()


def reminder_at(due: str, lead: str) -> str:
    """Return when to remind: the due time minus the lead duration."""
    due_at = parse_instant(due)
    parsed = SpiffTimerEventDefinition.parse_iso_duration(lead)
    return (
        due_at - SpiffTimerEventDefinition.get_timedelta_from_end(parsed, due_at)
    ).isoformat()


def extend_due(due: str, term: str) -> str:
    """Return the later of the due time and now plus the term."""
    fresh = add_duration(now(), term)
    return max(parse_instant(due), parse_instant(fresh)).isoformat()


def notify(lane: str, kind: str) -> None:
    """Ask the platform to notify the people of a lane, e.g. a reminder."""
    effects.emit("notify", lane=str(lane), kind=str(kind))


def escalate(kind: str) -> None:
    """Ask the platform to escalate an overdue step to the office above."""
    effects.emit("escalate", kind=str(kind))


def archive(outcome: str) -> None:
    """Ask the platform to archive the creation task with its final score."""
    if outcome not in OUTCOMES:
        raise ValueError(f"archive outcome must be one of {', '.join(OUTCOMES)}")
    effects.emit("archive", outcome=outcome)


def public_notice(ends_at: str) -> None:
    """Ask the platform to publish a title decision until the notice ends."""
    effects.emit("title_notice", ends_at=parse_instant(str(ends_at)).isoformat())


def change_title(decision: str, rectify_days: int | None = None) -> None:
    """Ask the platform to put a title decision into effect for the unit."""
    if decision not in TITLE_DECISIONS:
        raise ValueError(f"title decision must be one of {', '.join(TITLE_DECISIONS)}")
    if decision == "rectify" and not isinstance(rectify_days, int):
        raise ValueError("a decision to rectify needs the number of days")
    effects.emit("title_change", decision=decision, rectify_days=rectify_days)


def publish_report() -> None:
    """Ask the platform to publish a public report's result on its tracking page."""
    effects.emit("public_report_published")


DIAGRAM_FUNCTIONS = {
    "now": now,
    "add_duration": add_duration,
    "reminder_at": reminder_at,
    "extend_due": extend_due,
    "notify": notify,
    "escalate": escalate,
    "archive": archive,
    "public_notice": public_notice,
    "change_title": change_title,
    "publish_report": publish_report,
}
