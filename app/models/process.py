"""Process definitions, their deployed versions, running instances and human tasks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.organisation import Unit


class ProcessDefinition(Base):
    """A named procedure, e.g. the creation task; its diagrams are versioned."""

    __tablename__ = "process_definitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[ProcessVersion]] = relationship(
        back_populates="definition", order_by="ProcessVersion.version"
    )


class ProcessVersion(Base):
    """One deployed diagram of a definition, with its serialized spec stored once."""

    __tablename__ = "process_versions"
    __table_args__ = (UniqueConstraint("definition_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"))
    version: Mapped[int]
    filename: Mapped[str] = mapped_column(String(255))
    bpmn_xml: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    spec_json: Mapped[str] = deferred(mapped_column(Text))
    serializer_version: Mapped[str] = mapped_column(String(10))
    called_versions: Mapped[dict] = mapped_column(default=dict)
    comment: Mapped[str] = mapped_column(String(500), default="")
    is_current: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    definition: Mapped[ProcessDefinition] = relationship(back_populates="versions")


class ProcessInstance(Base):
    """A running or finished workflow; its state is stored without the spec."""

    __tablename__ = "process_instances"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"))
    business_key: Mapped[str] = mapped_column(String(120), unique=True)
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("cycles.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    scope_path: Mapped[str] = mapped_column(String(255), index=True, default="/")
    status: Mapped[str] = mapped_column(String(20), default="running")
    outcome: Mapped[str | None] = mapped_column(String(40))
    state_json: Mapped[str] = deferred(mapped_column(Text))
    serializer_version: Mapped[str] = mapped_column(String(10))
    lock_version: Mapped[int] = mapped_column(default=1)
    next_timer_due_at: Mapped[datetime | None] = mapped_column(index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]

    version: Mapped[ProcessVersion] = relationship()
    unit: Mapped[Unit | None] = relationship()
    human_tasks: Mapped[list[HumanTask]] = relationship(
        back_populates="instance", order_by="HumanTask.id"
    )


class HumanTask(Base):
    """A user task of an instance as the inbox sees it, kept in step on every save."""

    __tablename__ = "human_tasks"
    __table_args__ = (
        Index("ix_human_tasks_inbox", "state", "lane", "office_path"),
        UniqueConstraint("instance_id", "task_uuid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_uuid: Mapped[str] = mapped_column(String(36))
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"))
    bpmn_id: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    lane: Mapped[str] = mapped_column(String(40))
    form_key: Mapped[str] = mapped_column(String(40))
    instructions: Mapped[str] = mapped_column(Text, default="")
    office_path: Mapped[str] = mapped_column(String(255))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("cycles.id"), index=True)
    round: Mapped[int] = mapped_column(default=1)
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(String(20), default="ready")
    claimed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), index=True
    )
    claimed_at: Mapped[datetime | None]
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    instance: Mapped[ProcessInstance] = relationship(back_populates="human_tasks")
    unit: Mapped[Unit | None] = relationship()


class ProcedureDraft(Base):
    """A diagram an administrator is editing, saved as they type, one per person."""

    __tablename__ = "procedure_drafts"
    __table_args__ = (UniqueConstraint("user_id", "process_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    process_key: Mapped[str] = mapped_column(String(100))
    # The version the draft started from; None for a new procedure.
    base_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_versions.id")
    )
    bpmn_xml: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LaneRoute(Base):
    """A lane name a diagram may use, and the routing key its tasks go to."""

    __tablename__ = "lane_routes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    routes_to: Mapped[str] = mapped_column(String(20))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
