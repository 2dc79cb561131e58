"""Procedure administration: versions, validation, deployment, diffs and migration."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from app.models import (
    ProcessDefinition,
    ProcessInstance,
    ProcessVersion,
    User,
)
from app.services import lanes
from app.services.base import transaction
from app.services.lanes import check_admin
from forms.registry import FORM_KEYS
from processes import registry, runner, trial_run
from processes.errors import (
    Conflict,
    InvalidDiagram,
    InvalidInput,
    NotFound,
)
from processes.lint import KNOWN_LANES
from processes.problems import Problem, make_problem
from processes.validation import Verdict, parse_diagram, validate_diagram

logger = logging.getLogger(__name__)

MAX_DIAGRAM_BYTES = 2 * 1024 * 1024
COMMENT_MAX_CHARS = 500


@dataclass(frozen=True)
class VersionRow:
    """One version of a definition as its page lists it."""

    version: ProcessVersion
    running: int


@dataclass(frozen=True)
class DefinitionSummary:
    """A definition with its versions, newest first, and the current one."""

    definition: ProcessDefinition
    versions: list[VersionRow]

    @property
    def current(self) -> ProcessVersion | None:
        """Return the version new instances start on."""
        return next((r.version for r in self.versions if r.version.is_current), None)

    @property
    def running(self) -> int:
        """Return how many instances of any version are running."""
        return sum(row.running for row in self.versions)


def summaries(session: Session) -> list[DefinitionSummary]:
    """Return every definition with its versions and running counts."""
    definitions = session.scalars(
        select(ProcessDefinition).order_by(ProcessDefinition.process_key)
    )
    counts = _running_counts(session)
    return [_summary(d, counts) for d in definitions]


def summary(session: Session, process_key: str) -> DefinitionSummary:
    """Return one definition with its versions, or raise NotFound."""
    definition = session.scalars(
        select(ProcessDefinition).where(ProcessDefinition.process_key == process_key)
    ).first()
    if definition is None:
        raise NotFound(f"there is no procedure {process_key!r}")
    return _summary(definition, _running_counts(session, definition.id))


def _summary(definition: ProcessDefinition, counts: dict) -> DefinitionSummary:
    rows = [
        VersionRow(version, counts.get(version.id, 0))
        for version in sorted(definition.versions, key=lambda v: -v.version)
    ]
    return DefinitionSummary(definition, rows)


def _running_counts(session: Session, definition_id: int | None = None) -> dict:
    query = (
        select(ProcessInstance.version_id, func.count())
        .where(ProcessInstance.status == "running")
        .group_by(ProcessInstance.version_id)
    )
    if definition_id is not None:
        query = query.join(ProcessVersion).where(
            ProcessVersion.definition_id == definition_id
        )
    return dict(session.execute(query).all())


def authors(session: Session, summary: DefinitionSummary) -> dict[int, str]:
    """Return the names of the people who deployed the versions, by user id."""
    ids = {row.version.created_by_id for row in summary.versions} - {None}
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    return dict(rows.all())


def version_of(session: Session, process_key: str, number: int) -> ProcessVersion:
    """Return a version of a definition with its XML, or raise NotFound."""
    query = (
        select(ProcessVersion)
        .join(ProcessDefinition)
        .options(undefer(ProcessVersion.bpmn_xml))
        .where(ProcessDefinition.process_key == process_key)
        .where(ProcessVersion.version == number)
    )
    version = session.scalars(query).first()
    if version is None:
        raise NotFound(f"procedure {process_key!r} has no version {number}")
    return version


def check_size(xml: bytes) -> None:
    """Refuse a diagram larger than the platform accepts."""
    if len(xml) > MAX_DIAGRAM_BYTES:
        raise InvalidDiagram(
            f"the diagram is {len(xml) // 1024} KB; diagrams may be at most "
            f"{MAX_DIAGRAM_BYTES // 1024} KB"
        )


def validate(session: Session, xml: bytes, filename: str) -> Verdict:
    """Run the whole validation pipeline, with the deployed called processes."""
    check_size(xml)
    try:
        companions, _ = registry.companions_of(session, xml)
    except InvalidDiagram as error:
        return Verdict(filename, [make_problem("engine", error.message)])
    return validate_diagram(
        xml,
        filename=filename,
        companions=companions,
        form_keys=FORM_KEYS,
        lanes=lanes.accepted_lanes(session),
    )


def deploy(
    session: Session, actor: User, xml: bytes, filename: str, comment: str
) -> registry.DeployResult:
    """Deploy a valid diagram as the new current version of its procedure."""
    check_admin(actor)
    check_size(xml)
    comment = (comment or "").strip()[:COMMENT_MAX_CHARS]
    return registry.deploy(
        session,
        xml,
        filename=filename,
        form_keys=FORM_KEYS,
        lanes=KNOWN_LANES,
        comment=comment,
        actor_id=actor.id,
        lane_routes=lanes.lane_routes(session),
    )


def redeploy(
    session: Session, actor: User, process_key: str, number: int, comment: str
) -> registry.DeployResult:
    """Make an older version current again by deploying it as a new version."""
    old = version_of(session, process_key, number)
    text = comment or f"rolled back to version {number}"
    result = deploy(session, actor, old.bpmn_xml, old.filename, text)
    if not result.created:
        raise Conflict(f"version {number} is already the current version")
    return result


@dataclass
class InstanceMove:
    """Whether one running instance can move to the current version, and why not."""

    instance: ProcessInstance
    reasons: list[str] = field(default_factory=list)

    @property
    def possible(self) -> bool:
        """Tell whether the instance can move."""
        return not self.reasons


def migration_preview(session: Session, process_key: str) -> list[InstanceMove]:
    """Check every running instance on an older version against the current one."""
    target = registry.current_version(session, process_key)
    query = (
        select(ProcessInstance)
        .join(ProcessVersion, ProcessInstance.version_id == ProcessVersion.id)
        .options(*runner.instance_options())
        .where(ProcessVersion.definition_id == target.definition_id)
        .where(ProcessInstance.version_id != target.id)
        .where(ProcessInstance.status == "running")
        .order_by(ProcessInstance.id)
    )
    moves, spec_diffs = [], {}
    for instance in session.scalars(query):
        checked = runner.check_migration(session, instance, target, spec_diffs)
        moves.append(InstanceMove(instance, checked.reasons))
    return moves


@dataclass
class MigrationReport:
    """What a migration did: the instances moved and those refused, with reasons."""

    moved: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


def migrate(
    session: Session, actor: User, process_key: str, instance_ids: list[int]
) -> MigrationReport:
    """Move the chosen instances to the current version, each in its own step."""
    check_admin(actor)
    target = registry.current_version(session, process_key)
    target_id = target.id
    report = MigrationReport()
    for instance_id in instance_ids:
        try:
            with transaction(session):
                target = session.get(ProcessVersion, target_id)
                _check_belongs(session, instance_id, target)
                runner.migrate_instance(session, instance_id, target, actor_id=actor.id)
        except (Conflict, NotFound) as error:
            report.refused[instance_id] = error.message
        else:
            report.moved.append(instance_id)
    return report


def _check_belongs(session: Session, instance_id: int, target: ProcessVersion) -> None:
    instance = session.get(ProcessInstance, instance_id)
    if instance is None or instance.version.definition_id != target.definition_id:
        raise NotFound(f"instance {instance_id} is not one of this procedure's")
    if instance.version_id == target.id:
        raise Conflict(f"instance {instance_id} is on the current version already")


def problems_as_json(problems: list[Problem]) -> list[dict]:
    """Return problems as the editor and the API show them."""
    return [
        {
            "stage": p.stage,
            "message": p.message,
            "element_id": p.element_id,
            "element_name": p.element_name,
            "line": p.line,
            "text": str(p),
        }
        for p in problems
    ]


def trial(session: Session, xml: bytes, path: str) -> trial_run.TrialRun:
    """Run a diagram in memory along a path; refuse one that fails its checks."""
    if path not in trial_run.PATHS:
        raise InvalidInput(
            f"choose a path of {', '.join(trial_run.PATHS)}, not {path!r}",
            details={"errors": {"path": "choose a path from the list"}},
        )
    check_size(xml)
    companions, _ = registry.companions_of(session, xml)
    parsed = parse_diagram(
        xml,
        filename="diagram.bpmn",
        companions=companions,
        form_keys=FORM_KEYS,
        lanes=lanes.accepted_lanes(session),
    )
    return trial_run.run(parsed.spec, parsed.subprocess_specs, path)
