"""The electronic archive as people use it: search, read, annotate dossiers.

Every query is filtered by the office or unit path of the user: office staff see the
dossiers of the units in their subtree, a unit's people see only their own unit's.
Dossiers are never changed; a correction is an annotation added beside one.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import exists, false, func, or_, select
from sqlalchemy.orm import Session

from app.models import Cycle, Unit, User, record_event
from app.models.dossier import Dossier, DossierAnnotation, DossierFile
from app.services import fields
from app.services.base import transaction
from app.services.fields import FieldErrors
from processes.errors import Forbidden, InvalidInput, NotFound

logger = logging.getLogger(__name__)

PAGE_SIZE = 25
MAX_SEARCH_CHARS = 80
MAX_ANNOTATION_CHARS = 4000
ANNOTATING_ROLES = ("office_admin", "reviewer")


@dataclass(frozen=True)
class DossierFilters:
    """The archive list's search: unit name, cycle, indicator code, free text."""

    unit: str = ""
    cycle_id: int | None = None
    indicator: str = ""
    text: str = ""
    page: int = 1

    def as_args(self) -> dict:
        """Return the filters as query-string arguments, empty ones left out."""
        args = {
            "unit": self.unit,
            "cycle": self.cycle_id,
            "indicator": self.indicator,
            "q": self.text,
        }
        return {key: value for key, value in args.items() if value}


@dataclass(frozen=True)
class DossierRow:
    """One dossier of the list with its unit, cycle and result."""

    dossier: Dossier
    unit_name: str
    cycle_name: str
    outcome: str
    final_score: str
    grade: str


@dataclass
class DossierList:
    """A page of the archive list."""

    rows: list[DossierRow]
    total: int
    page: int
    pages: int
    filters: DossierFilters
    cycles: list[Cycle] = field(default_factory=list)


@dataclass(frozen=True)
class AnnotationView:
    """An annotation with its author's name."""

    annotation: DossierAnnotation
    author: str


@dataclass
class DossierPage:
    """What the dossier page shows: the frozen document, files and annotations."""

    dossier: Dossier
    document: dict
    files: list[DossierFile]
    annotations: list[AnnotationView]
    may_annotate: bool


def read_filters(args) -> DossierFilters:
    """Read the archive search from a query string, refusing malformed values."""
    raw_cycle = (args.get("cycle") or "").strip()
    if raw_cycle and not raw_cycle.isdigit():
        raise InvalidInput(f"cycle must be a cycle number, not {raw_cycle!r}")
    raw_page = (args.get("page") or "1").strip()
    page = int(raw_page) if raw_page.isdigit() and int(raw_page) > 0 else 1
    return DossierFilters(
        unit=(args.get("unit") or "").strip()[:MAX_SEARCH_CHARS],
        cycle_id=int(raw_cycle) if raw_cycle else None,
        indicator=(args.get("indicator") or "").strip().upper()[:20],
        text=(args.get("q") or "").strip()[:MAX_SEARCH_CHARS],
        page=page,
    )


def search_dossiers(
    session: Session, user: User, filters: DossierFilters
) -> DossierList:
    """Return the page of dossiers in the user's scope that match the search."""
    query = _matching(user, filters)

    total = session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(filters.page, pages)
    rows = session.execute(
        query.order_by(Dossier.frozen_at.desc(), Dossier.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()

    return DossierList(
        rows=[
            _row(dossier, unit_name, cycle_name)
            for dossier, unit_name, cycle_name in rows
        ],
        total=total,
        page=page,
        pages=pages,
        filters=filters,
        cycles=visible_cycles(session, user),
    )


def _matching(user: User, filters: DossierFilters):
    query = (
        select(Dossier, Unit.name, Cycle.name)
        .join(Unit, Unit.id == Dossier.unit_id)
        .join(Cycle, Cycle.id == Dossier.cycle_id)
        .where(in_scope(user))
    )
    if filters.unit:
        query = query.where(Unit.name.ilike(_contains(filters.unit), escape="\\"))
    if filters.cycle_id is not None:
        query = query.where(Dossier.cycle_id == filters.cycle_id)
    if filters.indicator:
        code = f"% {_escape_like(filters.indicator)} %"
        query = query.where(Dossier.indicator_codes.like(code, escape="\\"))
    if filters.text:
        pattern = _contains(filters.text)
        annotated = exists().where(
            DossierAnnotation.dossier_id == Dossier.id,
            DossierAnnotation.text.ilike(pattern, escape="\\"),
        )
        query = query.where(
            or_(Dossier.search_text.ilike(pattern, escape="\\"), annotated)
        )
    return query


def _row(dossier: Dossier, unit_name: str, cycle_name: str) -> DossierRow:
    result = json.loads(dossier.document)["result"]
    return DossierRow(
        dossier=dossier,
        unit_name=unit_name,
        cycle_name=cycle_name,
        outcome=result["outcome"],
        final_score=result["final_score"],
        grade=result["grade"],
    )


def in_scope(user: User):
    """Return the SQL condition for dossiers of units in the user's scope."""
    path = user.scope_path
    if path is None or not user.is_active:
        return false()
    return Unit.path.startswith(path, autoescape=True)


def visible_cycles(session: Session, user: User) -> list[Cycle]:
    """Return the cycles that have dossiers the user sees, newest first."""
    ids = (
        select(Dossier.cycle_id)
        .join(Unit, Unit.id == Dossier.unit_id)
        .where(in_scope(user))
        .distinct()
    )
    query = select(Cycle).where(Cycle.id.in_(ids)).order_by(Cycle.id.desc())
    return list(session.scalars(query))


def get_dossier(session: Session, user: User, dossier_id: int) -> Dossier:
    """Return a dossier of a unit in the user's scope, or raise NotFound."""
    query = (
        select(Dossier)
        .join(Unit, Unit.id == Dossier.unit_id)
        .where(Dossier.id == dossier_id, in_scope(user))
    )
    dossier = session.scalar(query)
    if dossier is None:
        raise NotFound(f"dossier {dossier_id} does not exist or is outside your scope")
    return dossier


def dossier_page(session: Session, user: User, dossier_id: int) -> DossierPage:
    """Return the dossier page: its frozen document, files and annotations."""
    dossier = get_dossier(session, user, dossier_id)

    return DossierPage(
        dossier=dossier,
        document=json.loads(dossier.document),
        files=dossier_files(session, dossier.id),
        annotations=annotations_of(session, dossier.id),
        may_annotate=may_annotate(user),
    )


def dossier_files(session: Session, dossier_id: int) -> list[DossierFile]:
    """Return the files of a dossier in manifest order."""
    query = (
        select(DossierFile)
        .where(DossierFile.dossier_id == dossier_id)
        .order_by(DossierFile.id)
    )
    return list(session.scalars(query))


def dossier_file(
    session: Session, user: User, dossier_id: int, path: str
) -> DossierFile:
    """Return one evidence file of a dossier the user sees, by its dossier path."""
    dossier = get_dossier(session, user, dossier_id)
    found = session.scalar(
        select(DossierFile).where(
            DossierFile.dossier_id == dossier.id,
            DossierFile.path == path,
            DossierFile.evidence_file_id.is_not(None),
        )
    )
    if found is None:
        raise NotFound(f"dossier {dossier_id} has no file {path!r}")
    return found


def annotations_of(session: Session, dossier_id: int) -> list[AnnotationView]:
    """Return a dossier's annotations, oldest first, with their authors' names."""
    query = (
        select(DossierAnnotation, User.display_name)
        .join(User, User.id == DossierAnnotation.author_id)
        .where(DossierAnnotation.dossier_id == dossier_id)
        .order_by(DossierAnnotation.created_at, DossierAnnotation.id)
    )
    return [AnnotationView(a, name) for a, name in session.execute(query)]


def may_annotate(user: User) -> bool:
    """Tell whether the user is office staff who may add corrections."""
    return (
        user.is_active
        and user.unit_id is None
        and any(user.has_role(role) for role in ANNOTATING_ROLES)
    )


def annotate(
    session: Session, user: User, dossier_id: int, text: str, corrects: str = ""
) -> DossierAnnotation:
    """Add a correction to a dossier; the frozen document itself never changes."""
    with transaction(session):
        dossier = get_dossier(session, user, dossier_id)
        if not may_annotate(user):
            raise Forbidden(
                "only office reviewers and administrators may add corrections to "
                "an archived dossier"
            )
        errors = FieldErrors()
        body = fields.text(
            errors, "text", text, required=True, max_chars=MAX_ANNOTATION_CHARS
        )
        about = fields.text(errors, "corrects", corrects, max_chars=120)
        errors.raise_if_any("the correction was not added")

        annotation = DossierAnnotation(
            dossier_id=dossier.id, author_id=user.id, text=body, corrects=about
        )
        session.add(annotation)
        session.flush()
        _audit_annotation(session, user, dossier, annotation)
    return annotation


def _audit_annotation(session, user: User, dossier: Dossier, annotation) -> None:
    record_event(
        session,
        "dossier.annotated",
        actor_id=user.id,
        instance_id=dossier.instance_id,
        object_type="dossier",
        object_id=dossier.id,
        annotation_id=annotation.id,
        corrects=annotation.corrects,
    )
    logger.info(
        "dossier %s annotated by user %s",
        dossier.id,
        user.id,
        extra={"dossier_id": dossier.id},
    )


def annotations_document(session: Session, dossier_id: int) -> list[dict]:
    """Return a dossier's annotations as plain data, for its ZIP."""
    return [
        {
            "id": view.annotation.id,
            "author": view.author,
            "corrects": view.annotation.corrects,
            "text": view.annotation.text,
            "created_at": _iso(view.annotation.created_at),
        }
        for view in annotations_of(session, dossier_id)
    ]


def _iso(value: datetime) -> str:
    return value.isoformat()


def _contains(text: str) -> str:
    return f"%{_escape_like(text)}%"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
