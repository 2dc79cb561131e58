"""The ledger (台账): units record their creation activities as they happen."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.models import (
    Cycle,
    EvidenceFile,
    Indicator,
    IndicatorSystem,
    Office,
    ProcessInstance,
    Submission,
    SubmissionResponse,
    Unit,
    User,
    record_event,
    utcnow,
)
from app.models.ledger import LedgerAttachment, LedgerEntry
from app.services import evidence, scope
from app.services.base import transaction
from app.services.fields import FieldErrors
from processes.errors import Conflict, Forbidden, InvalidInput, NotFound

logger = logging.getLogger(__name__)

STAFF_ROLES = ("admin", "office_admin", "reviewer")
MAX_PARTICIPANTS = 1_000_000
MAX_HOURS = Decimal("1000000")
ENTRY_FIELDS = (
    "occurred_on",
    "indicator_id",
    "title",
    "description",
    "participants",
    "volunteer_hours",
    "place",
)


@dataclass(frozen=True)
class IndicatorChoice:
    """An indicator a unit may record an activity against."""

    id: int
    code: str
    name: str


def check_reader(user: User) -> None:
    """Refuse users who belong to no unit and hold no office staff role."""
    if user.unit_id is not None:
        return
    if user.scope_path is None or not any(user.has_role(r) for r in STAFF_ROLES):
        raise Forbidden("only unit users and office staff read the ledger")


def is_staff(user: User) -> bool:
    """Tell whether the user reads ledgers as office staff, not as a unit."""
    return user.unit_id is None and any(user.has_role(r) for r in STAFF_ROLES)


def may_record(user: User) -> bool:
    """Tell whether the user keeps a unit's ledger (a liaison of the unit)."""
    return user.unit_id is not None and user.has_role("liaison") and user.is_active


def visible_entry(session: Session, user: User, entry_id: int) -> LedgerEntry:
    """Return an entry of a unit the user sees, or raise NotFound."""
    check_reader(user)
    entry = session.get(LedgerEntry, entry_id)
    unit = session.get(Unit, entry.unit_id) if entry else None
    if unit is None or not scope.sees_path(user, unit.path):
        raise NotFound(
            f"ledger entry {entry_id} does not exist or is outside your scope"
        )
    return entry


def editable_entry(session: Session, user: User, entry_id: int) -> LedgerEntry:
    """Return an entry the user may change: their own unit's, as its liaison."""
    entry = visible_entry(session, user, entry_id)
    if not may_record(user) or user.unit_id != entry.unit_id:
        raise Forbidden("only a liaison of the unit changes its ledger entries")
    return entry


def indicator_choices(session: Session, unit: Unit) -> list[IndicatorChoice]:
    """Return the indicators of the unit's current system that the unit answers."""
    system_id = current_system_id(session, unit)
    if system_id is None:
        return []
    query = (
        select(Indicator)
        .where(Indicator.system_id == system_id)
        .order_by(Indicator.position)
    )
    return [
        IndicatorChoice(i.id, i.code, i.name)
        for i in session.scalars(query)
        if i.answerable_by_unit
    ]


def current_system_id(session: Session, unit: Unit) -> int | None:
    """Return the system of the unit's latest cycle, else its office's published one."""
    in_cycle = session.scalar(
        select(Cycle.indicator_system_id)
        .join(ProcessInstance, ProcessInstance.cycle_id == Cycle.id)
        .where(ProcessInstance.unit_id == unit.id)
        .order_by(Cycle.opens_at.desc(), Cycle.id.desc())
        .limit(1)
    )
    if in_cycle is not None:
        return in_cycle
    return session.scalar(
        select(IndicatorSystem.id)
        .join(Office, Office.id == IndicatorSystem.office_id)
        .where(IndicatorSystem.published.is_(True))
        .where(Office.path.in_(ancestor_paths(unit.path)))
        .order_by(IndicatorSystem.published_at.desc(), IndicatorSystem.id.desc())
        .limit(1)
    )


def ancestor_paths(path: str) -> list[str]:
    """Return the paths of the offices above a unit or office path."""
    parts = [part for part in path.split("/") if part]
    return ["/" + "/".join(parts[:n]) + "/" for n in range(1, len(parts))]


def today_for(unit: Unit) -> date:
    """Return today's date in the time zone of the unit's office."""
    zone = unit.office.timezone if unit.office else "Asia/Shanghai"
    return datetime.now(ZoneInfo(zone or "Asia/Shanghai")).date()


def create_entry(
    session: Session,
    user: User,
    values: dict,
    *,
    files: tuple[tuple[str, bytes], ...] = (),
    upload_folder: Path | None = None,
    max_bytes: int = evidence.DEFAULT_MAX_BYTES,
) -> LedgerEntry:
    """Record a new activity in the liaison's own unit's ledger, with its files."""
    if not may_record(user):
        raise Forbidden("only a unit's liaison records activities in its ledger")
    with transaction(session):
        unit = session.get(Unit, user.unit_id)
        entry = LedgerEntry(unit_id=unit.id, created_by_id=user.id)
        _apply(session, unit, entry, values)
        session.add(entry)
        session.flush()
        for filename, content in files:
            _store(
                session, user, entry, unit, filename, content, upload_folder, max_bytes
            )
        _audit(session, user, "ledger.entry_created", entry)
    logger.info("ledger entry recorded", extra={"ledger_entry_id": entry.id})
    return entry


def update_entry(
    session: Session, user: User, entry_id: int, values: dict
) -> LedgerEntry:
    """Change an entry of the liaison's own unit."""
    with transaction(session):
        entry = editable_entry(session, user, entry_id)
        unit = session.get(Unit, entry.unit_id)
        _apply(session, unit, entry, values)
        entry.updated_at = utcnow()
        _audit(session, user, "ledger.entry_updated", entry)
    return entry


def delete_entry(session: Session, user: User, entry_id: int) -> None:
    """Delete an entry and its files, unless a sent submission relies on it."""
    with transaction(session):
        entry = editable_entry(session, user, entry_id)
        if _sent_attachments(session, entry.id):
            raise Conflict(
                f"“{entry.title}” is evidence in a submission already sent; "
                "it stays in the ledger"
            )
        session.execute(
            delete(EvidenceFile).where(EvidenceFile.ledger_entry_id == entry.id)
        )
        session.execute(
            delete(LedgerAttachment).where(LedgerAttachment.ledger_entry_id == entry.id)
        )
        _audit(session, user, "ledger.entry_deleted", entry)
        session.delete(entry)


def _sent_attachments(session: Session, entry_id: int) -> int:
    query = (
        select(LedgerAttachment.id)
        .join(SubmissionResponse, SubmissionResponse.id == LedgerAttachment.response_id)
        .join(Submission, Submission.id == SubmissionResponse.submission_id)
        .where(LedgerAttachment.ledger_entry_id == entry_id)
        .where(Submission.status != "draft")
    )
    return len(session.scalars(query).all())


def _apply(session: Session, unit: Unit, entry: LedgerEntry, values: dict) -> None:
    """Check the typed values field by field and copy them onto the entry."""
    errors = FieldErrors()
    occurred_on = _date(errors, values.get("occurred_on"), today_for(unit))
    indicator = _indicator(errors, session, unit, entry, values.get("indicator_id"))
    title = _text(errors, "title", values.get("title"), 200, required=True)
    description = _text(errors, "description", values.get("description"), 5000)
    participants = _count(errors, values.get("participants"))
    hours = _hours(errors, values.get("volunteer_hours"))
    place = _text(errors, "place", values.get("place"), 200)
    errors.raise_if_any("the ledger entry cannot be saved")

    entry.occurred_on = occurred_on
    entry.indicator_id = indicator.id
    entry.indicator_code = indicator.code
    entry.title = title
    entry.description = description
    entry.participants = participants
    entry.volunteer_hours = hours
    entry.place = place


def _date(errors: FieldErrors, raw, today: date) -> date | None:
    raw = (raw or "").strip() if isinstance(raw, str) else raw
    if isinstance(raw, date):
        value = raw
    elif not raw:
        errors.add("occurred_on", str(_l("Enter the date of the activity.")))
        return None
    else:
        try:
            value = date.fromisoformat(raw)
        except ValueError:
            errors.add("occurred_on", str(_l("Enter a date such as 2025-03-05.")))
            return None
    if value > today:
        errors.add(
            "occurred_on",
            str(_l("The date lies in the future; record activities once held.")),
        )
    return value


def _indicator(errors, session, unit, entry, raw) -> Indicator | None:
    choices = {c.id for c in indicator_choices(session, unit)}
    if entry.indicator_id is not None:
        choices.add(entry.indicator_id)
    chosen = int(raw) if str(raw or "").strip().isdigit() else None
    if chosen is None or chosen not in choices:
        errors.add(
            "indicator_id", str(_l("Choose an indicator of your indicator system."))
        )
        return None
    return session.get(Indicator, chosen)


def _text(errors, field: str, raw, max_chars: int, *, required=False) -> str:
    value = raw.strip() if isinstance(raw, str) else ""
    if required and not value:
        errors.add(field, str(_l("This field is required.")))
    elif len(value) > max_chars:
        errors.add(
            field,
            str(
                _l(
                    "At most %(max)d characters (now %(now)d).",
                    max=max_chars,
                    now=len(value),
                )
            ),
        )
    return value


def _count(errors: FieldErrors, raw) -> int:
    text = str(raw if raw is not None else "").strip() or "0"
    if not text.isdigit() or int(text) > MAX_PARTICIPANTS:
        errors.add(
            "participants",
            str(_l("Enter a whole number of people, 0 or more.")),
        )
        return 0
    return int(text)


def _hours(errors: FieldErrors, raw) -> Decimal:
    text = str(raw if raw is not None else "").strip() or "0"
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value < 0 or value > MAX_HOURS:
        errors.add(
            "volunteer_hours", str(_l("Enter the volunteer hours as 0 or more."))
        )
        return Decimal(0)
    return value.quantize(Decimal("0.1"))


def _audit(session: Session, user: User, action: str, entry: LedgerEntry) -> None:
    record_event(
        session,
        action,
        actor_id=user.id,
        object_type="ledger_entry",
        object_id=entry.id,
        unit_id=entry.unit_id,
        indicator=entry.indicator_code,
        title=entry.title,
    )


def entry_files(session: Session, entry: LedgerEntry) -> list[EvidenceFile]:
    """Return the entry's own evidence files, oldest first."""
    query = (
        select(EvidenceFile)
        .where(EvidenceFile.ledger_entry_id == entry.id)
        .where(EvidenceFile.response_id.is_(None))
        .where(EvidenceFile.rectification_item_id.is_(None))
        .order_by(EvidenceFile.id)
    )
    return list(session.scalars(query))


def add_evidence(
    session: Session,
    user: User,
    entry_id: int,
    *,
    filename: str,
    content: bytes,
    upload_folder: Path,
    max_bytes: int = evidence.DEFAULT_MAX_BYTES,
) -> EvidenceFile:
    """Store a file as evidence of an entry, with a photo's capture time."""
    with transaction(session):
        entry = editable_entry(session, user, entry_id)
        unit = session.get(Unit, entry.unit_id)
        stored = _store(
            session, user, entry, unit, filename, content, upload_folder, max_bytes
        )
    return stored


def _store(session, user, entry, unit, filename, content, folder, max_bytes):
    """Store one file of an entry; a refusal names the file under `files`."""
    try:
        stored = evidence.store_evidence(
            session,
            upload_folder=folder,
            user=user,
            unit_id=entry.unit_id,
            filename=filename,
            content=content,
            max_bytes=max_bytes,
            capture_timezone=unit.office.timezone or "Asia/Shanghai",
        )
    except InvalidInput as error:
        errors = {"files": error.message}
        raise InvalidInput(error.message, details={"errors": errors}) from error
    stored.ledger_entry_id = entry.id
    session.flush()
    record_event(
        session,
        "ledger.evidence_added",
        actor_id=user.id,
        object_type="ledger_entry",
        object_id=entry.id,
        filename=stored.filename,
        sha256=stored.sha256,
    )
    return stored


def remove_evidence(
    session: Session, user: User, entry_id: int, evidence_id: int
) -> None:
    """Remove one of an entry's own files; copies in submissions stay."""
    with transaction(session):
        entry = editable_entry(session, user, entry_id)
        found = session.get(EvidenceFile, evidence_id)
        if found is None or found not in entry_files(session, entry):
            raise NotFound(f"file {evidence_id} is not evidence of this entry")
        record_event(
            session,
            "ledger.evidence_removed",
            actor_id=user.id,
            object_type="ledger_entry",
            object_id=entry.id,
            filename=found.filename,
        )
        session.delete(found)


def set_good_practice(
    session: Session, user: User, entry_id: int, good: bool
) -> LedgerEntry:
    """Mark an entry as good practice (典型经验) to publish, or take the mark off."""
    with transaction(session):
        entry = visible_entry(session, user, entry_id)
        if not is_staff(user):
            raise Forbidden("only office staff mark good practice")
        entry.good_practice = good
        entry.good_practice_by_id = user.id if good else None
        entry.good_practice_at = utcnow() if good else None
        action = (
            "ledger.good_practice_marked" if good else "ledger.good_practice_unmarked"
        )
        _audit(session, user, action, entry)
    return entry


def published_good_practice(session: Session, unit_id: int) -> list[LedgerEntry]:
    """Return a unit's entries marked as good practice, newest first."""
    query = (
        select(LedgerEntry)
        .where(LedgerEntry.unit_id == unit_id, LedgerEntry.good_practice.is_(True))
        .order_by(LedgerEntry.occurred_on.desc(), LedgerEntry.id.desc())
    )
    return list(session.scalars(query))


def good_practice_photos(session: Session, entry: LedgerEntry) -> list[EvidenceFile]:
    """Return the photos of a good-practice entry, for publishing; none otherwise."""
    if not entry.good_practice:
        return []
    return [f for f in entry_files(session, entry) if f.kind == "photo"]
