"""Freezing a finished creation task into its dossier (档案固化).

The dossier document is canonical JSON (sorted keys, UTF-8, no spaces) so the same
facts always give the same bytes and the same sha256. The manifest lists every file
of the dossier by path, sha256 and size; the manifest's own sha256 is kept on the
dossier row. Evidence bytes stay in the content-addressed upload folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from decimal import Decimal
from pathlib import PurePosixPath

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    Archive,
    AuditEvent,
    Cycle,
    EvidenceFile,
    IndicatorSystem,
    ProcessInstance,
    Unit,
    User,
    record_event,
    utcnow,
)
from app.models.audit import PENDING_KEY
from app.models.dossier import Dossier, DossierFile
from app.services.instance_pages import Materials, load_materials

logger = logging.getLogger(__name__)

DOSSIER_FORMAT = "wenming-dossier/1"
DOCUMENT_PATH = "dossier.json"
DOCUMENT_TYPE = "application/json"


def canonical_json(value: object) -> bytes:
    """Return the canonical UTF-8 JSON bytes of a value (sorted keys, no spaces)."""
    text = json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_plain
    )
    return text.encode("utf-8")


def sha256_hex(content: bytes) -> str:
    """Return the hex sha256 of some bytes."""
    return hashlib.sha256(content).hexdigest()


def freeze_dossier(
    session: Session, instance: ProcessInstance, archive: Archive
) -> Dossier:
    """Build and store the frozen dossier of an archived instance, in its step."""
    session.flush()
    materials = load_materials(session, instance.id)
    files = _FileNames()
    frozen_at = utcnow()

    document = build_document(session, instance, archive, materials, files, frozen_at)
    content = canonical_json(document)
    entries = [_document_entry(content), *files.entries]
    manifest = canonical_json(_manifest(instance, archive, frozen_at, entries))

    dossier = Dossier(
        instance_id=instance.id,
        unit_id=instance.unit_id,
        cycle_id=instance.cycle_id,
        archive_id=archive.id,
        frozen_at=frozen_at,
        document=content,
        manifest=manifest,
        manifest_sha256=sha256_hex(manifest),
        indicator_codes=_codes_text(touched_codes(document)),
        search_text=search_text(document),
    )
    session.add(dossier)
    session.flush()
    session.add_all(_file_rows(dossier, entries))
    _audit_freeze(session, dossier, len(entries))
    return dossier


def _audit_freeze(session: Session, dossier: Dossier, file_count: int) -> None:
    record_event(
        session,
        "dossier.frozen",
        instance_id=dossier.instance_id,
        object_type="dossier",
        object_id=dossier.id,
        manifest_sha256=dossier.manifest_sha256,
        files=file_count,
    )
    logger.info(
        "dossier %s frozen for instance %s with %s files",
        dossier.id,
        dossier.instance_id,
        file_count,
        extra={"instance_id": dossier.instance_id, "dossier_id": dossier.id},
    )


def freeze_missing(session: Session) -> list[Dossier]:
    """Freeze a dossier for every archive that has none yet (archived earlier)."""
    query = (
        select(Archive)
        .outerjoin(Dossier, Dossier.archive_id == Archive.id)
        .where(Dossier.id.is_(None))
        .order_by(Archive.id)
    )
    frozen = []
    for archive in session.scalars(query).all():
        instance = session.get(ProcessInstance, archive.instance_id)
        frozen.append(freeze_dossier(session, instance, archive))
    return frozen


def build_document(
    session: Session,
    instance: ProcessInstance,
    archive: Archive,
    materials: Materials,
    files: _FileNames,
    frozen_at: datetime,
) -> dict:
    """Return the dossier document: everything the task produced, as plain data."""
    unit = session.get(Unit, instance.unit_id)
    cycle = session.get(Cycle, instance.cycle_id)
    system = session.get(IndicatorSystem, cycle.indicator_system_id)
    codes = {i.id: i.code for i in system.indicators}
    people = _people(session, materials, instance.id)
    ctx = _Context(codes=codes, people=people, files=files)

    return {
        "format": DOSSIER_FORMAT,
        "frozen_at": frozen_at,
        "instance": _instance(instance),
        "unit": _unit(unit),
        "cycle": _cycle(cycle),
        "indicator_system": _system(system),
        "submissions": [_submission(s, ctx) for s in materials.submissions],
        "reviews": [_review(r, ctx) for r in materials.reviews],
        "rectifications": [
            _order(o, ctx, materials.item_evidence) for o in materials.orders
        ],
        "result": _result(archive),
        "timeline": _timeline(session, instance.id, people),
    }


class _FileNames:
    """Readable, unique paths of the evidence files inside the dossier."""

    def __init__(self) -> None:
        self.entries: list[dict] = []
        self._taken: set[str] = {DOCUMENT_PATH}

    def add(self, stored: EvidenceFile, prefix: str) -> str:
        name = PurePosixPath(stored.filename)
        path = f"files/{prefix}-{stored.filename}"
        number = 1
        while path in self._taken:
            number += 1
            path = f"files/{prefix}-{name.stem}-{number}{name.suffix}"
        self._taken.add(path)
        self.entries.append(
            {
                "path": path,
                "sha256": stored.sha256,
                "size": stored.size_bytes,
                "content_type": stored.content_type,
                "evidence_file_id": stored.id,
            }
        )
        return path


class _Context:
    def __init__(self, codes: dict, people: dict, files: _FileNames) -> None:
        self.codes = codes
        self.people = people
        self.files = files

    def code(self, indicator_id: int | None) -> str:
        return self.codes.get(indicator_id, "") if indicator_id else ""

    def person(self, user_id: int | None) -> str:
        return self.people.get(user_id, "") if user_id else ""


def _instance(instance: ProcessInstance) -> dict:
    return {
        "id": instance.id,
        "started_at": instance.started_at,
        "completed_at": instance.completed_at,
        "outcome": instance.outcome,
    }


def _unit(unit: Unit) -> dict:
    return {
        "id": unit.id,
        "code": unit.code,
        "name": unit.name,
        "unit_type": unit.unit_type,
        "office": unit.office.name,
        "title_level": unit.title_level,
        "target_level": unit.target_level,
    }


def _cycle(cycle: Cycle) -> dict:
    return {
        "id": cycle.id,
        "name": cycle.name,
        "office": cycle.office.name,
        "opens_at": cycle.opens_at,
        "submission_due": cycle.submission_due,
    }


def _system(system: IndicatorSystem) -> dict:
    return {
        "id": system.id,
        "code": system.code,
        "version": system.version,
        "name": system.name,
        "indicators": [
            {"code": i.code, "name": i.name, "kind": i.kind, "points": i.points}
            for i in system.scoring_indicators()
        ],
    }


def _evidence(stored: EvidenceFile, prefix: str, ctx: _Context) -> dict:
    return {
        "path": ctx.files.add(stored, prefix),
        "filename": stored.filename,
        "sha256": stored.sha256,
        "size": stored.size_bytes,
        "content_type": stored.content_type,
        "kind": stored.kind,
        "uploaded_at": stored.uploaded_at,
    }


def _submission(submission, ctx: _Context) -> dict:
    responses = []
    for response in sorted(submission.responses, key=lambda r: r.id):
        code = ctx.code(response.indicator_id)
        prefix = f"r{submission.round}-{code}"
        evidence = sorted(response.evidence, key=lambda e: e.id)
        responses.append(
            {
                "indicator": code,
                "self_score": response.self_score,
                "explanation": response.explanation,
                "evidence": [_evidence(e, prefix, ctx) for e in evidence],
            }
        )
    return {
        "round": submission.round,
        "status": submission.status,
        "self_score": submission.self_score,
        "submitted_by": ctx.person(submission.submitted_by_id),
        "submitted_at": submission.submitted_at,
        "responses": responses,
    }


def _review(review, ctx: _Context) -> dict:
    scores = sorted(review.scores, key=lambda s: s.id)
    return {
        "id": review.id,
        "level": review.level,
        "round": review.round,
        "reviewer": ctx.person(review.reviewer_id),
        "decision": review.decision,
        "opinion": review.opinion,
        "fail_reason": review.fail_reason,
        "total_score": review.total_score,
        "vetoed": review.vetoed,
        "created_at": review.created_at,
        "scores": [
            {
                "indicator": ctx.code(s.indicator_id),
                "score": s.score,
                "veto": s.veto,
                "comment": s.comment,
            }
            for s in scores
        ],
    }


def _order(order, ctx: _Context, item_evidence: dict) -> dict:
    items = []
    for item in sorted(order.items, key=lambda i: i.id):
        prefix = f"rect{order.round}-{ctx.code(item.indicator_id) or 'item'}"
        evidence = item_evidence.get(item.id, [])
        items.append(
            {
                "indicator": ctx.code(item.indicator_id),
                "description": item.description,
                "response": item.response,
                "responded_at": item.responded_at,
                "accepted": item.accepted,
                "verifier_comment": item.verifier_comment,
                "evidence": [_evidence(e, prefix, ctx) for e in evidence],
            }
        )
    return {
        "level": order.level,
        "round": order.round,
        "review_id": order.review_id,
        "due_at": order.due_at,
        "status": order.status,
        "created_at": order.created_at,
        "items": items,
    }


def _result(archive: Archive) -> dict:
    return {
        "outcome": archive.outcome,
        "base_score": archive.base_score,
        "bonus": archive.bonus,
        "deductions": archive.deductions,
        "final_score": archive.final_score,
        "vetoed": archive.vetoed,
        "grade": archive.grade,
        "archived_at": archive.archived_at,
    }


def _timeline(session: Session, instance_id: int, people: dict) -> list[dict]:
    query = (
        select(AuditEvent)
        .where(AuditEvent.instance_id == instance_id)
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    stored = [
        (e.at, e.action, e.actor_id, e.detail or {}) for e in session.scalars(query)
    ]
    # Events of the step being archived are written only at its commit.
    pending = [
        (e["at"], e["action"], e["actor_id"], e["detail"])
        for e in session.info.get(PENDING_KEY, [])
        if e["instance_id"] == instance_id
    ]
    return [
        {"at": at, "action": action, "actor": people.get(actor, ""), "detail": detail}
        for at, action, actor, detail in stored + pending
    ]


def _people(session: Session, materials: Materials, instance_id: int) -> dict:
    ids = {s.submitted_by_id for s in materials.submissions}
    ids |= {r.reviewer_id for r in materials.reviews}
    ids |= set(
        session.scalars(
            select(AuditEvent.actor_id).where(AuditEvent.instance_id == instance_id)
        )
    )
    ids |= {e["actor_id"] for e in session.info.get(PENDING_KEY, [])}
    ids.discard(None)
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    return {user_id: name for user_id, name in rows}


def _document_entry(content: bytes) -> dict:
    return {
        "path": DOCUMENT_PATH,
        "sha256": sha256_hex(content),
        "size": len(content),
        "content_type": DOCUMENT_TYPE,
        "evidence_file_id": None,
    }


def _manifest(instance, archive, frozen_at: datetime, entries: list[dict]) -> dict:
    return {
        "format": DOSSIER_FORMAT,
        "instance_id": instance.id,
        "archive_id": archive.id,
        "unit_id": instance.unit_id,
        "cycle_id": instance.cycle_id,
        "frozen_at": frozen_at,
        "files": [
            {"path": e["path"], "sha256": e["sha256"], "size": e["size"]}
            for e in entries
        ],
    }


def _file_rows(dossier: Dossier, entries: list[dict]) -> list[DossierFile]:
    return [
        DossierFile(
            dossier_id=dossier.id,
            path=e["path"],
            sha256=e["sha256"],
            size_bytes=e["size"],
            content_type=e["content_type"],
            evidence_file_id=e["evidence_file_id"],
        )
        for e in entries
    ]


def touched_codes(document: dict) -> set[str]:
    """Return the codes of the indicators the unit answered, reviewers scored or
    found vetoed, or a rectification named."""
    codes = set()
    for submission in document["submissions"]:
        codes |= {response["indicator"] for response in submission["responses"]}
    for review in document["reviews"]:
        codes |= {score["indicator"] for score in review["scores"]}
    for order in document["rectifications"]:
        codes |= {item["indicator"] for item in order["items"]}
    codes.discard("")
    return codes


def _codes_text(codes: set[str]) -> str:
    return f" {' '.join(sorted(codes))} " if codes else ""


def search_text(document: dict) -> str:
    """Return the text a free-text search looks in: names, opinions, explanations."""
    parts = [document["unit"]["name"], document["cycle"]["name"]]
    parts += [f"{i['code']} {i['name']}" for i in _indicators_named(document)]
    for submission in document["submissions"]:
        parts += [r["explanation"] for r in submission["responses"]]
        parts += [e["filename"] for r in submission["responses"] for e in r["evidence"]]
    for review in document["reviews"]:
        parts += [review["opinion"], review["fail_reason"]]
        parts += [s["comment"] for s in review["scores"]]
    for order in document["rectifications"]:
        for item in order["items"]:
            parts += [item["description"], item["response"], item["verifier_comment"]]
    return "\n".join(part for part in parts if part)


def _indicators_named(document: dict) -> list[dict]:
    touched = touched_codes(document)
    indicators = document["indicator_system"]["indicators"]
    return [i for i in indicators if i["code"] in touched]


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} cannot be written to a dossier")
