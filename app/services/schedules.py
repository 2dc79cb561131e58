"""Cycle schedules: an office's standing order to open a cycle on a calendar."""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import (
    Cycle,
    CycleSchedule,
    IndicatorSystem,
    Office,
    User,
    record_event,
    utcnow,
)
from app.models.cycle import RECURRENCES
from app.services import cycles
from app.services.base import transaction
from processes.errors import Conflict, Forbidden, InvalidInput, NotFound

logger = logging.getLogger(__name__)

NAME_MAX_CHARS = 100
WINDOW_MAX_DAYS = 366
QUARTER_MONTHS = (1, 4, 7, 10)
# How far back to look for a schedule's latest fire time, widest last.
LOOK_BACK = (
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=32),
    timedelta(days=370),
)


@dataclass
class ScheduleSpec:
    """What an office administrator asks for when creating or editing a schedule."""

    name: str
    office: Office
    indicator_system: IndicatorSystem
    recurrence: str
    month: int | None = None
    day: int | None = None
    hour: int | None = None
    cron: str = ""
    submission_days: int = 30
    county_review_days: int = 15
    city_review_days: int = 10
    province_review_days: int = 10
    reminder_lead: str = "P2D"
    unit_types: list[str] = field(default_factory=list)
    title_levels: list[str] = field(default_factory=list)
    auto_close: bool = True


def check_manages(user: User, office: Office) -> None:
    """Raise Forbidden unless the user administers the office or one above it."""
    if user.has_role("admin"):
        return
    own = user.office
    if user.has_role("office_admin") and own and office.path.startswith(own.path):
        return
    raise Forbidden(
        f"only an administrator of {office.name} or an office above it may "
        "manage its cycles and schedules"
    )


def check_system(session: Session, system: IndicatorSystem, office: Office) -> None:
    """Raise InvalidInput unless the system is published by the office or above."""
    if not system.published:
        raise InvalidInput(
            f"indicator system {system.name} (version {system.version}) is not "
            "published yet; publish it or choose a published version"
        )
    owner = session.get(Office, system.office_id)
    if not office.path.startswith(owner.path):
        raise InvalidInput(
            f"indicator system {system.name} belongs to {owner.name}, "
            f"which is not {office.name} or an office above it"
        )


def cron_text(spec: ScheduleSpec) -> str:
    """Return the five-field cron text for the spec's recurrence, checked."""
    if spec.recurrence not in RECURRENCES:
        raise InvalidInput(
            f"recurrence must be one of {', '.join(RECURRENCES)}, "
            f"not {spec.recurrence!r}"
        )
    if spec.recurrence == "cron":
        text = " ".join((spec.cron or "").split())
        if len(text.split()) != 5:
            raise InvalidInput(
                "cron text needs five fields: minute hour day month weekday, "
                "e.g. 0 8 1 10 *"
            )
        return text

    hour = _in_range("hour", spec.hour, 0, 23)
    if spec.recurrence == "monthly":
        day = _in_range("day", spec.day, 1, 28, "so that every month has it")
        return f"0 {hour} {day} * *"
    if spec.recurrence == "quarterly":
        day = _in_range("day", spec.day, 1, 30, "because April has 30 days")
        return f"0 {hour} {day} {','.join(map(str, QUARTER_MONTHS))} *"
    month = _in_range("month", spec.month, 1, 12)
    # A leap year is the only one with 29 February: allow 1–28 for February.
    last_day = 28 if month == 2 else calendar.monthrange(2025, month)[1]
    day = _in_range("day", spec.day, 1, last_day, f"for month {month}")
    return f"0 {hour} {day} {month} *"


def _in_range(label: str, value: int | None, low: int, high: int, why: str = "") -> int:
    if value is None or not low <= value <= high:
        reason = f" {why}" if why else ""
        raise InvalidInput(f"{label} must be from {low} to {high}{reason}")
    return value


def trigger_for(cron: str, timezone: str) -> CronTrigger:
    """Return the cron trigger of a schedule, in the office's time zone."""
    try:
        trigger = CronTrigger.from_crontab(cron, timezone=ZoneInfo(timezone))
    except ValueError as error:
        raise InvalidInput(f"cron text {cron!r} is not valid: {error}") from None
    if trigger.get_next_fire_time(None, utcnow()) is None:
        raise InvalidInput(f"cron text {cron!r} never fires; check day and month")
    return trigger


def schedule_trigger(schedule: CycleSchedule) -> CronTrigger:
    """Return the trigger of a stored schedule."""
    return trigger_for(schedule.cron, schedule.office.timezone)


def calendar_of(schedule: CycleSchedule) -> dict[str, int | None]:
    """Return the month, day and hour a stored schedule's recurrence was built from."""
    if schedule.recurrence == "cron":
        return {"month": None, "day": None, "hour": None}
    _, hour, day, month, _ = schedule.cron.split()
    yearly = schedule.recurrence == "yearly"
    return {"month": int(month) if yearly else None, "day": int(day), "hour": int(hour)}


def period_of(schedule: CycleSchedule, fire_time: datetime) -> str:
    """Return the period a fire time opens, e.g. 2026, 2026-Q4 or 2026-10."""
    local = fire_time.astimezone(ZoneInfo(schedule.office.timezone))
    if schedule.recurrence == "yearly":
        return f"{local.year}"
    if schedule.recurrence == "quarterly":
        return f"{local.year}-Q{(local.month - 1) // 3 + 1}"
    if schedule.recurrence == "monthly":
        return f"{local:%Y-%m}"
    return f"{local:%Y-%m-%dT%H:%M}"


def cycle_name(schedule: CycleSchedule, period: str) -> str:
    """Return the name of the cycle a schedule opens for a period."""
    return f"{schedule.name} {period}"


def latest_fire_time(trigger: CronTrigger, now: datetime) -> datetime | None:
    """Return the trigger's latest fire time at or before `now`, if within a year."""
    for look_back in LOOK_BACK:
        fire = trigger.get_next_fire_time(None, now - look_back)
        if fire is None or fire > now:
            continue
        while True:
            following = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
            if following is None or following > now:
                return fire
            fire = following
    return None


def create_schedule(
    session: Session, actor: User | None, spec: ScheduleSpec
) -> CycleSchedule:
    """Create an active schedule for an office the actor administers.

    `actor` None stands for the operator at the command line, who may act anywhere.
    """
    actor_id = actor.id if actor is not None else None
    schedule = CycleSchedule(created_by_id=actor_id, active=True)
    _apply(session, actor, schedule, spec)
    session.add(schedule)
    session.flush()
    record_event(
        session,
        "schedule.created",
        actor_id=actor_id,
        object_type="cycle_schedule",
        object_id=schedule.id,
        name=schedule.name,
        cron=schedule.cron,
    )
    return schedule


def update_schedule(
    session: Session, actor: User, schedule_id: int, spec: ScheduleSpec
) -> CycleSchedule:
    """Change a schedule; cycles it already opened keep their deadlines."""
    schedule = get_schedule(session, actor, schedule_id)
    _apply(session, actor, schedule, spec)
    session.flush()
    record_event(
        session,
        "schedule.updated",
        actor_id=actor.id,
        object_type="cycle_schedule",
        object_id=schedule.id,
        cron=schedule.cron,
    )
    return schedule


def set_active(
    session: Session, actor: User, schedule_id: int, active: bool
) -> CycleSchedule:
    """Deactivate a schedule (it opens nothing more) or activate it again."""
    schedule = get_schedule(session, actor, schedule_id)
    schedule.active = active
    record_event(
        session,
        "schedule.activated" if active else "schedule.deactivated",
        actor_id=actor.id,
        object_type="cycle_schedule",
        object_id=schedule.id,
    )
    return schedule


def _apply(
    session: Session, actor: User | None, schedule: CycleSchedule, spec: ScheduleSpec
) -> None:
    if actor is not None:
        check_manages(actor, spec.office)
    check_system(session, spec.indicator_system, spec.office)
    name = (spec.name or "").strip()
    if not name or len(name) > NAME_MAX_CHARS:
        raise InvalidInput(
            f"a schedule needs a name of 1 to {NAME_MAX_CHARS} characters"
        )
    _check_name_free(session, spec.office, name, schedule.id)
    cron = cron_text(spec)
    trigger_for(cron, spec.office.timezone)
    _check_windows(spec)
    cycles.check_unit_filters(spec.unit_types, spec.title_levels)

    schedule.name = name
    schedule.office_id = spec.office.id
    schedule.office = spec.office
    schedule.indicator_system_id = spec.indicator_system.id
    schedule.recurrence = spec.recurrence
    schedule.cron = cron
    schedule.submission_days = spec.submission_days
    schedule.county_review_days = spec.county_review_days
    schedule.city_review_days = spec.city_review_days
    schedule.province_review_days = spec.province_review_days
    schedule.reminder_lead = spec.reminder_lead
    schedule.unit_types = sorted(set(spec.unit_types))
    schedule.title_levels = sorted(set(spec.title_levels))
    schedule.auto_close = spec.auto_close


def _check_name_free(
    session: Session, office: Office, name: str, schedule_id: int | None
) -> None:
    query = select(CycleSchedule.id).where(
        CycleSchedule.office_id == office.id, CycleSchedule.name == name
    )
    other = session.scalar(query)
    if other is not None and other != schedule_id:
        raise InvalidInput(f"{office.name} already has a schedule named {name!r}")


def _check_windows(spec: ScheduleSpec) -> None:
    windows = (
        ("submission", spec.submission_days),
        ("county review", spec.county_review_days),
        ("city review", spec.city_review_days),
        ("province review", spec.province_review_days),
    )
    for label, days in windows:
        _in_range(f"the {label} window in days", days, 1, WINDOW_MAX_DAYS)
    cycles.check_reminder_lead(spec.reminder_lead)


def get_schedule(session: Session, user: User, schedule_id: int) -> CycleSchedule:
    """Return a schedule the user administers, else raise NotFound or Forbidden."""
    schedule = session.get(CycleSchedule, schedule_id)
    scope = user.scope_path
    if schedule is None or scope is None or not schedule.office.path.startswith(scope):
        raise NotFound(
            f"schedule {schedule_id} does not exist or is outside your scope"
        )
    check_manages(user, schedule.office)
    return schedule


def schedules_in_scope(session: Session, user: User) -> list[CycleSchedule]:
    """Return the schedules of the user's office subtree, by office and name."""
    scope = user.scope_path
    if scope is None:
        return []
    query = (
        select(CycleSchedule)
        .join(Office, CycleSchedule.office_id == Office.id)
        .where(Office.path.startswith(scope, autoescape=True))
        .order_by(Office.path, CycleSchedule.name)
    )
    return list(session.scalars(query))


def active_schedules(session: Session) -> list[CycleSchedule]:
    """Return every active schedule (what the scheduler keeps jobs for)."""
    query = select(CycleSchedule).where(CycleSchedule.active.is_(True))
    return list(session.scalars(query.order_by(CycleSchedule.id)))


def open_scheduled(session: Session, schedule_id: int, now: datetime) -> Cycle | None:
    """Open the cycle of the schedule's latest period at or before `now`, once.

    Returns the cycle (new or already opened), or None when the schedule is inactive
    or has not fired within the past year. Issuance is left to the scheduler.
    """
    schedule = session.get(CycleSchedule, schedule_id)
    if schedule is None or not schedule.active:
        return None
    fire = latest_fire_time(schedule_trigger(schedule), now)
    if fire is None:
        return None
    period = period_of(schedule, fire)
    existing = _cycle_of(session, schedule_id, period)
    if existing is not None:
        return existing

    try:
        with transaction(session):
            cycle = _open(session, schedule, fire, period)
    except Conflict as error:
        # Another process opened the same period first: theirs is the cycle.
        existing = _cycle_of(session, schedule_id, period)
        if existing is None or not isinstance(error.__cause__, IntegrityError):
            raise
        return existing
    logger.info(
        "schedule %s opened cycle %s for %s",
        schedule_id,
        cycle.id,
        period,
        extra={"schedule_id": schedule_id, "cycle_id": cycle.id},
    )
    return cycle


def _open(
    session: Session, schedule: CycleSchedule, fire: datetime, period: str
) -> Cycle:
    submission_due = fire + timedelta(days=schedule.submission_days)
    county_due = submission_due + timedelta(days=schedule.county_review_days)
    city_due = county_due + timedelta(days=schedule.city_review_days)
    province_due = city_due + timedelta(days=schedule.province_review_days)
    return cycles.open_cycle(
        session,
        office=schedule.office,
        name=cycle_name(schedule, period),
        indicator_system=schedule.indicator_system,
        submission_due=submission_due,
        county_review_due=county_due,
        city_review_due=city_due,
        province_review_due=province_due,
        reminder_lead=schedule.reminder_lead,
        actor_id=schedule.created_by_id,
        unit_types=schedule.unit_types,
        title_levels=schedule.title_levels,
        auto_close=schedule.auto_close,
        schedule_id=schedule.id,
        period=period,
    )


def _cycle_of(session: Session, schedule_id: int, period: str) -> Cycle | None:
    query = select(Cycle).where(
        Cycle.schedule_id == schedule_id, Cycle.period == period
    )
    return session.scalars(query).first()
