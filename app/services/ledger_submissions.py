"""Ledger entries offered on a unit's submission and attached as evidence."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.models import (
    Cycle,
    EvidenceFile,
    HumanTask,
    Submission,
    SubmissionResponse,
    User,
    record_event,
)
from app.models.ledger import LedgerAttachment, LedgerEntry
from app.services import scope, submissions
from app.services.base import transaction
from app.services.fields import FieldErrors
from app.services.indicators import IndicatorRule, catalog_for_cycle
from app.services.ledger import entry_files
from app.services.ledger_queries import file_counts
from app.services.tasks import get_task
from processes.errors import InvalidInput

logger = logging.getLogger(__name__)

OFFERED_PREFIX = "ledger_offered_"
CHOSEN_PREFIX = "ledger_"


@dataclass(frozen=True)
class Offer:
    """A ledger entry offered under an indicator, and whether it is attached."""

    entry: LedgerEntry
    files: int
    attached: bool


def offer_window(cycle: Cycle) -> tuple[date, date]:
    """Return the first and last day whose entries a cycle's submission offers."""
    zone = ZoneInfo(cycle.office.timezone or "Asia/Shanghai")
    due = cycle.submission_due.astimezone(zone).date()
    return min(date(due.year, 1, 1), due - timedelta(days=365)), due


def offers_for_task(
    session: Session, user: User, task: HumanTask
) -> dict[str, list[Offer]]:
    """Return per indicator code the unit's entries its submission may attach."""
    if task.form_key != "unit_submission" or task.cycle_id is None:
        return {}
    if user.unit_id is None or user.unit_id != task.unit_id:
        return {}
    rules = _answerable(session, task)
    first, last = offer_window(session.get(Cycle, task.cycle_id))
    entries = session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.unit_id == task.unit_id)
        .where(LedgerEntry.indicator_code.in_(list(rules)))
        .where(LedgerEntry.occurred_on >= first, LedgerEntry.occurred_on <= last)
        .order_by(LedgerEntry.occurred_on.desc(), LedgerEntry.id.desc())
    ).all()
    attached = attached_entries(session, task)
    counts = file_counts(session, [entry.id for entry in entries])
    offers: dict[str, list[Offer]] = {}
    for entry in entries:
        files = counts.get(entry.id, 0)
        linked = entry.id in attached.get(entry.indicator_code, set())
        offers.setdefault(entry.indicator_code, []).append(Offer(entry, files, linked))
    return offers


def _answerable(session: Session, task: HumanTask) -> dict[str, IndicatorRule]:
    catalog = catalog_for_cycle(session, task.cycle_id)
    return {i.code: i for i in catalog.indicators if i.answerable_by_unit}


def attached_entries(session: Session, task: HumanTask) -> dict[str, set[int]]:
    """Return per indicator code the ids of the entries attached to the submission."""
    codes = {i.id: i.code for i in catalog_for_cycle(session, task.cycle_id).indicators}
    rows = session.execute(
        select(SubmissionResponse.indicator_id, LedgerAttachment.ledger_entry_id)
        .join(LedgerAttachment, LedgerAttachment.response_id == SubmissionResponse.id)
        .join(Submission, Submission.id == SubmissionResponse.submission_id)
        .where(Submission.instance_id == task.instance_id)
    ).all()
    found: dict[str, set[int]] = {}
    for indicator_id, entry_id in rows:
        found.setdefault(codes.get(indicator_id, ""), set()).add(entry_id)
    return found


def attach_from_form(
    session: Session, user: User, task_id: int, form: Mapping
) -> dict[str, str]:
    """Attach the entries ticked on a submission form; return errors by field."""
    offered, chosen = read_choices(form)
    if not offered:
        return {}
    try:
        sync_entries(session, user, task_id, offered, chosen)
    except InvalidInput as error:
        details = error.details if isinstance(error.details, dict) else {}
        return dict(details.get("errors") or {"": error.message})
    return {}


def read_choices(form: Mapping) -> tuple[dict[str, set[int]], dict[str, set[int]]]:
    """Read which entries the form offered and which were ticked, by code."""
    offered: dict[str, set[int]] = {}
    chosen: dict[str, set[int]] = {}
    for key in form:
        if key.startswith(OFFERED_PREFIX):
            code = key[len(OFFERED_PREFIX) :]
            raw = str(form.get(key) or "").split(",")
            offered[code] = {int(v) for v in raw if v.strip().isdigit()}
    for code in offered:
        values = form.getlist(CHOSEN_PREFIX + code)
        chosen[code] = {int(v) for v in values if str(v).strip().isdigit()}
    return offered, chosen


def sync_entries(
    session: Session,
    user: User,
    task_id: int,
    offered: dict[str, set[int]],
    chosen: dict[str, set[int]],
) -> None:
    """Attach the chosen entries' evidence to each indicator, detach the others."""
    with transaction(session):
        task = _submission_task(session, user, task_id)
        rules = _answerable(session, task)
        allowed = {
            code: {offer.entry.id for offer in offers}
            for code, offers in offers_for_task(session, user, task).items()
        }
        _check_chosen(chosen, allowed)

        submission = submissions.current_submission(session, task)
        for code, ids in offered.items():
            if code not in rules:
                continue
            response = submissions.response_for(session, submission, rules[code])
            for entry_id in ids & allowed.get(code, set()):
                entry = session.get(LedgerEntry, entry_id)
                if entry_id in chosen.get(code, set()):
                    _attach(session, user, task, response, entry)
                else:
                    _detach(session, user, task, response, entry)


def _submission_task(session: Session, user: User, task_id: int) -> HumanTask:
    task = get_task(session, user, task_id)
    scope.check_can_act(user, task)
    if task.form_key != "unit_submission" or task.state != "ready":
        raise InvalidInput(f"task “{task.title}” does not take a unit submission now")
    return task


def _check_chosen(chosen: dict[str, set[int]], allowed: dict[str, set[int]]) -> None:
    errors = FieldErrors()
    for code, ids in chosen.items():
        if not ids <= allowed.get(code, set()):
            errors.add(
                f"{code}.evidence",
                str(_l("Only your unit's ledger entries for this indicator attach.")),
            )
    errors.raise_if_any("ledger entries cannot be attached")


def _attach(session, user, task, response, entry: LedgerEntry) -> None:
    """Link the entry and copy its files not yet copied; the stored bytes are shared."""
    link = session.scalars(
        select(LedgerAttachment).where(
            LedgerAttachment.response_id == response.id,
            LedgerAttachment.ledger_entry_id == entry.id,
        )
    ).first()
    if link is None:
        session.add(
            LedgerAttachment(
                response_id=response.id,
                ledger_entry_id=entry.id,
                attached_by_id=user.id,
            )
        )
        _audit(session, user, task, "ledger.attached", entry)
    copied = set(
        session.scalars(
            select(EvidenceFile.sha256).where(
                EvidenceFile.response_id == response.id,
                EvidenceFile.ledger_entry_id == entry.id,
            )
        )
    )
    for own in entry_files(session, entry):
        if own.sha256 in copied:
            continue
        copied.add(own.sha256)
        session.add(_copy(own, response, user))
    session.flush()
    session.expire(response, ["evidence"])


def _copy(own: EvidenceFile, response: SubmissionResponse, user: User) -> EvidenceFile:
    return EvidenceFile(
        sha256=own.sha256,
        filename=own.filename,
        content_type=own.content_type,
        kind=own.kind,
        size_bytes=own.size_bytes,
        unit_id=own.unit_id,
        response_id=response.id,
        ledger_entry_id=own.ledger_entry_id,
        captured_at=own.captured_at,
        uploaded_by_id=user.id,
    )


def _detach(session, user, task, response, entry: LedgerEntry) -> None:
    link = session.scalars(
        select(LedgerAttachment.id).where(
            LedgerAttachment.response_id == response.id,
            LedgerAttachment.ledger_entry_id == entry.id,
        )
    ).first()
    if link is None:
        return
    session.execute(
        delete(EvidenceFile)
        .where(EvidenceFile.response_id == response.id)
        .where(EvidenceFile.ledger_entry_id == entry.id)
    )
    session.execute(delete(LedgerAttachment).where(LedgerAttachment.id == link))
    session.expire(response, ["evidence"])
    _audit(session, user, task, "ledger.detached", entry)


def _audit(session, user, task, action: str, entry: LedgerEntry) -> None:
    record_event(
        session,
        action,
        actor_id=user.id,
        instance_id=task.instance_id,
        object_type="ledger_entry",
        object_id=entry.id,
        indicator=entry.indicator_code,
        title=entry.title,
    )
