"""Drafts of diagrams edited in the browser: opened, saved as drawn, deployed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ProcedureDraft, ProcessDefinition, ProcessVersion, User, utcnow
from app.services.procedures import (
    check_admin,
    check_size,
    deploy,
    validate,
    version_of,
)
from processes import registry
from processes.errors import InvalidDiagram, InvalidInput, NotFound

NEW_DRAFT_KEY = "(new)"
SHIPPED_FOLDER = Path(__file__).resolve().parents[2] / "bpmn_diagrams"


@dataclass(frozen=True)
class EditorState:
    """What the editor opens: the diagram and whether it is an unsaved-away draft."""

    process_key: str
    xml: bytes
    draft_saved_at: datetime | None
    base_version: ProcessVersion | None


def shipped_diagrams() -> list[str]:
    """Return the names of the diagrams shipped with the platform."""
    return sorted(path.stem for path in SHIPPED_FOLDER.glob("*.bpmn"))


def open_editor(
    session: Session, user: User, process_key: str, template: str | None = None
) -> EditorState:
    """Return the user's draft of a procedure, else its current diagram.

    `process_key` NEW_DRAFT_KEY starts a new procedure from a shipped diagram.
    """
    check_admin(user)
    draft = _draft(session, user, process_key)
    if draft is not None:
        base = session.get(ProcessVersion, draft.base_version_id or 0)
        return EditorState(process_key, draft.bpmn_xml, draft.updated_at, base)
    if process_key == NEW_DRAFT_KEY:
        return EditorState(process_key, _shipped(template), None, None)
    current = registry.current_version(session, process_key)
    current = version_of(session, process_key, current.version)
    return EditorState(process_key, current.bpmn_xml, None, current)


def _shipped(template: str | None) -> bytes:
    if template not in shipped_diagrams():
        raise NotFound(
            f"there is no shipped diagram {template!r}; choose one of "
            f"{', '.join(shipped_diagrams())}"
        )
    return (SHIPPED_FOLDER / f"{template}.bpmn").read_bytes()


def _draft(session: Session, user: User, process_key: str) -> ProcedureDraft | None:
    query = select(ProcedureDraft).where(
        ProcedureDraft.user_id == user.id, ProcedureDraft.process_key == process_key
    )
    return session.scalars(query).first()


def save_draft(
    session: Session, user: User, process_key: str, xml: bytes
) -> ProcedureDraft:
    """Keep what the administrator has drawn so far; nothing is checked yet."""
    check_admin(user)
    check_size(xml)
    if not xml.strip():
        raise InvalidInput("the draft is empty")
    draft = _draft(session, user, process_key)
    if draft is None:
        base_id = None
        if process_key != NEW_DRAFT_KEY:
            base_id = registry.current_version(session, process_key).id
        draft = ProcedureDraft(
            user_id=user.id, process_key=process_key, base_version_id=base_id
        )
        session.add(draft)
    draft.bpmn_xml = xml
    draft.updated_at = utcnow()
    session.flush()
    return draft


def discard_draft(session: Session, user: User, process_key: str) -> None:
    """Throw the user's draft of a procedure away."""
    check_admin(user)
    draft = _draft(session, user, process_key)
    if draft is not None:
        session.delete(draft)


def deploy_draft(
    session: Session, user: User, process_key: str, comment: str
) -> registry.DeployResult:
    """Deploy the user's draft if it passes every check, then drop the draft."""
    draft = _draft(session, user, process_key)
    if draft is None:
        raise NotFound("there is no saved draft to deploy; save the diagram first")
    verdict = validate(session, draft.bpmn_xml, f"{process_key}.bpmn")
    if not verdict.ok:
        raise InvalidDiagram("the draft does not pass the checks", verdict.problems)
    _check_target(session, process_key, verdict.process_ids)
    result = deploy(session, user, draft.bpmn_xml, f"{process_key}.bpmn", comment)
    session.delete(draft)
    return result


def _check_target(session: Session, process_key: str, process_ids: list[str]) -> None:
    """Refuse a draft whose process id would make it another procedure's version."""
    main = process_ids[0] if process_ids else None
    if process_key == NEW_DRAFT_KEY:
        existing = session.scalar(
            select(ProcessDefinition.id).where(ProcessDefinition.process_key == main)
        )
        if existing is not None:
            raise InvalidDiagram(
                f"a procedure with the process id {main!r} exists already; give "
                "the new procedure a process id of its own"
            )
    elif main != process_key:
        raise InvalidDiagram(
            f"the diagram's process id is {main!r}, not {process_key!r}; change it "
            "back, or start a new procedure for it"
        )
