"""Frozen dossiers of finished creation tasks (档案电子化).

A dossier is written once, when its creation task is archived, and never changes:
the ORM refuses to update or delete its rows. Corrections are added beside it as
annotations, which are append-only too.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column

from app.models.base import Base, utcnow
from processes.errors import Conflict


class FrozenRecordError(Conflict):
    """An archived record was about to be changed or deleted."""

    title = "Archived records are never edited"


class Dossier(Base):
    """The frozen record of one creation task: document, manifest and its hash."""

    __tablename__ = "dossiers"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instances.id"), unique=True
    )
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id"), index=True)
    archive_id: Mapped[int] = mapped_column(ForeignKey("archives.id"), unique=True)
    frozen_at: Mapped[datetime] = mapped_column(default=utcnow)
    document: Mapped[bytes] = mapped_column(LargeBinary)
    manifest: Mapped[bytes] = mapped_column(LargeBinary)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    # Codes of the indicators the dossier's material touches, as " A1 B4 ".
    indicator_codes: Mapped[str] = mapped_column(Text, default="")
    search_text: Mapped[str] = mapped_column(Text, default="")


class DossierFile(Base):
    """One file of a dossier as its manifest lists it."""

    __tablename__ = "dossier_files"
    __table_args__ = (UniqueConstraint("dossier_id", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"), index=True)
    path: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int]
    content_type: Mapped[str] = mapped_column(String(100))
    evidence_file_id: Mapped[int | None] = mapped_column(
        ForeignKey("evidence_files.id")
    )


class DossierAnnotation(Base):
    """A correction or remark added to a frozen dossier by office staff."""

    __tablename__ = "dossier_annotations"

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    # What the correction is about: a field of the dossier or an indicator code.
    corrects: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


FROZEN_MODELS = (Dossier, DossierFile, DossierAnnotation)


def _refuse_update(mapper, connection, target) -> None:
    session = Session.object_session(target)
    if session is not None and not session.is_modified(
        target, include_collections=False
    ):
        return
    raise FrozenRecordError(
        f"{type(target).__name__} {target.id} is archived and cannot be changed; "
        "add an annotation to correct it"
    )


def _refuse_delete(mapper, connection, target) -> None:
    raise FrozenRecordError(
        f"{type(target).__name__} {target.id} is archived and cannot be deleted"
    )


def _refuse_bulk_writes(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    if mapper is not None and mapper.class_ in FROZEN_MODELS:
        raise FrozenRecordError(
            f"{mapper.class_.__name__} rows are archived and cannot be changed "
            "or deleted"
        )


for _model in FROZEN_MODELS:
    event.listen(_model, "before_update", _refuse_update)
    event.listen(_model, "before_delete", _refuse_delete)
event.listen(Session, "do_orm_execute", _refuse_bulk_writes)
