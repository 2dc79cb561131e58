"""Public reports (群众监督): filing one, following it, and who sees what.

A member of the public files a report about a titled unit and receives a long
random tracking code, of which only the sha256 is stored. The report starts the
`public_report` diagram; its domain data stays in the report row. The reporter's
contact details are shown only to staff of the office that handles the report.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.models import HumanTask, Unit, User, record_event
from app.models.public import (
    REPORT_CATEGORIES,
    PublicReport,
    PublicReportMilestone,
    PublicReportPhoto,
)
from app.services import notifications, public_photos, report_guard, scope
from app.services.base import transaction
from app.services.fields import FieldErrors, choice, text
from app.services.public_site import TITLED_STATUSES
from processes import registry, runner
from processes.errors import EngineError, InvalidInput, NotFound

logger = logging.getLogger(__name__)

REPORT_PROCESS = "public_report"
CODE_BYTES = 24
MAX_DESCRIPTION_CHARS = 2000
DEFAULT_RECTIFY_TERM = "P7D"
OFFICE_ROLES = ("reviewer", "office_admin")
_PHONE = re.compile(r"^[0-9+\-() ]{5,20}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")


@dataclass
class ReportInput:
    """What the public report form sends, before any check."""

    unit_id: object = None
    category: str = ""
    description: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""
    photos: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass(frozen=True)
class Filed:
    """A filed report and the tracking code shown to the reporter once."""

    report: PublicReport
    code: str


@dataclass(frozen=True)
class Guard:
    """What protects the form: the secret, the client, the form's proof and limits."""

    secret: str
    client_address: str | None
    token: str
    answer: str
    honeypot: str
    limits: report_guard.Limits = report_guard.Limits()


def code_hash(code: str) -> str:
    """Return how a tracking code is stored and looked up: its sha256."""
    return hashlib.sha256((code or "").strip().encode()).hexdigest()


def file_report(
    session: Session, entry: ReportInput, guard: Guard, *, upload_folder: Path
) -> Filed:
    """Check a public report, store it, start its procedure and return the code."""
    report_guard.check_human(guard.secret, guard.token, guard.answer, guard.honeypot)
    client = report_guard.client_hash(guard.secret, guard.client_address)
    # An address over its limit is turned away before its photos are decoded.
    report_guard.check_rate(session, client, guard.limits)
    unit, values = _read_input(session, entry)
    photos = public_photos.check_photos(entry.photos)

    with transaction(session):
        report_guard.check_rate(session, client, guard.limits)
        code = secrets.token_urlsafe(CODE_BYTES)
        report = PublicReport(code_hash=code_hash(code), unit_id=unit.id, **values)
        session.add(report)
        session.flush()
        add_photos(session, report, photos, upload_folder, None, "report")
        add_milestone(session, report, "received")
        report_guard.count_hit(session, client)
        start_procedure(session, report, unit)
        record_event(
            session,
            "public_report.received",
            object_type="public_report",
            object_id=report.id,
            unit_id=unit.id,
            category=report.category,
            photos=len(photos),
        )
    logger.info("public report %s filed", report.id, extra={"report_id": report.id})
    return Filed(report, code)


def _read_input(session: Session, entry: ReportInput) -> tuple[Unit, dict]:
    """Read the typed fields; refuse them together with a code per field."""
    errors, codes = FieldErrors(), {}
    unit = _titled_unit(session, entry.unit_id)
    if unit is None:
        errors.add("unit_id", "choose a unit from the list")
        codes["unit_id"] = "unit"
    category = choice(errors, "category", entry.category, REPORT_CATEGORIES)
    description = text(
        errors,
        "description",
        entry.description,
        required=True,
        max_chars=MAX_DESCRIPTION_CHARS,
    )
    contact = _read_contact(errors, entry)
    for key in errors.errors:
        codes.setdefault(key, _code_of(key, errors.errors[key]))
    if errors.errors:
        listing = "; ".join(f"{k}: {v}" for k, v in errors.errors.items())
        raise InvalidInput(
            f"the report was not filed: {listing}",
            details={"errors": errors.errors, "codes": codes},
        )
    return unit, {"category": category, "description": description, **contact}


def _code_of(key: str, message: str) -> str:
    if key == "description":
        return "required" if "required" in message else "too_long"
    return key


def _read_contact(errors: FieldErrors, entry: ReportInput) -> dict:
    name = text(errors, "contact_name", entry.contact_name, max_chars=60)
    phone = text(errors, "contact_phone", entry.contact_phone, max_chars=20)
    email = text(errors, "contact_email", entry.contact_email, max_chars=200)
    if phone and not _PHONE.match(phone):
        errors.add("contact_phone", "enter a phone number of digits")
    if email and not _EMAIL.match(email):
        errors.add("contact_email", "enter an e-mail address such as a@b.cn")
    return {"contact_name": name, "contact_phone": phone, "contact_email": email}


def _titled_unit(session: Session, unit_id: object) -> Unit | None:
    try:
        wanted = int(str(unit_id))
    except (TypeError, ValueError):
        return None
    unit = session.get(Unit, wanted)
    if unit is None or unit.title_status not in TITLED_STATUSES:
        return None
    return unit


def add_photos(session, report, photos, upload_folder, user_id, role) -> None:
    """Store checked photos and link them to the report in the given role."""
    for photo in photos:
        digest = public_photos.store_photo(upload_folder, photo)
        session.add(
            PublicReportPhoto(
                report_id=report.id,
                role=role,
                sha256=digest,
                content_type=photo.content_type,
                width=photo.width,
                height=photo.height,
                size_bytes=len(photo.content),
                uploaded_by_id=user_id,
            )
        )


def add_milestone(session: Session, report: PublicReport, milestone: str) -> None:
    """Add a step the reporter sees on the tracking page."""
    session.add(PublicReportMilestone(report_id=report.id, milestone=milestone))


def start_procedure(session: Session, report: PublicReport, unit: Unit) -> None:
    """Start the report's procedure and tell the handling office."""
    from app.services.effects import apply_effects

    version = registry.current_version(session, REPORT_PROCESS)
    request = runner.StartRequest(
        business_key=f"{REPORT_PROCESS}:{report.id}",
        data={
            "report_id": report.id,
            "unit_id": unit.id,
            "triage": None,
            "confirmed": None,
            "check": None,
            "rectify_term": DEFAULT_RECTIFY_TERM,
        },
        scope_path=unit.path,
        unit_id=unit.id,
    )
    result = runner.start_instance(session, version, request, on_effects=apply_effects)
    report.instance_id = result.instance.id
    notifications.announce_new_tasks(session, [result])


def track(session: Session, code: str) -> PublicReport:
    """Return the report a tracking code belongs to, or say the code is unknown."""
    query = (
        select(PublicReport)
        .options(selectinload(PublicReport.milestones))
        .where(PublicReport.code_hash == code_hash(code))
    )
    report = session.scalars(query).first() if (code or "").strip() else None
    if report is None:
        raise NotFound("no report has this tracking code; check it and try again")
    return report


def can_see_contact(user: User, report: PublicReport) -> bool:
    """Tell whether the user is staff of the office that handles the report."""
    if user.unit_id is not None or user.office is None:
        return False
    if not any(user.has_role(role) for role in OFFICE_ROLES):
        return False
    return scope.managing_office_path(report.unit.path) == user.office.path


def report_for_user(session: Session, user: User, report_id: int) -> PublicReport:
    """Return a report whose unit the user sees, or raise NotFound."""
    report = session.get(PublicReport, report_id)
    if report is None or not scope.sees_path(user, report.unit.path):
        raise NotFound(f"report {report_id} does not exist or is outside your scope")
    return report


def report_of_instance(session: Session, instance_id: int) -> PublicReport:
    """Return the report an instance handles, or name the broken link."""
    query = select(PublicReport).where(PublicReport.instance_id == instance_id)
    report = session.scalars(query).first()
    if report is None:
        raise EngineError(
            f"process instance {instance_id} handles a public report, but no "
            "report row belongs to it"
        )
    return report


def report_of_task(session: Session, task: HumanTask) -> PublicReport:
    """Return the report a human task belongs to."""
    return report_of_instance(session, task.instance_id)


def photo_for_user(session: Session, user: User, photo_id: int) -> PublicReportPhoto:
    """Return a report photo for someone who sees the report's unit."""
    photo = session.get(PublicReportPhoto, photo_id)
    if photo is None or not scope.sees_path(user, photo.report.unit.path):
        raise NotFound(f"photo {photo_id} does not exist or is outside your scope")
    return photo
