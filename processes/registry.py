"""The versioned registry of deployed process definitions and their cached specs."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import ProcessDefinition, ProcessVersion, record_event
from processes.errors import InvalidDiagram, NotFound
from processes.serialization import SERIALIZER_VERSION, dump_specs, load_specs

logger = logging.getLogger(__name__)

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


@dataclass(frozen=True)
class DeployResult:
    """The version a deploy produced, and whether it is new."""

    version: ProcessVersion
    created: bool


class SpecCache:
    """Restored specs per process version, shared by every request and job."""

    def __init__(self, max_versions: int = 64) -> None:
        self._entries: OrderedDict[tuple, tuple] = OrderedDict()
        self._max_versions = max_versions
        self._lock = threading.Lock()
        self.loads = 0

    def get(self, session: Session, version: ProcessVersion) -> tuple:
        """Return (spec, subprocess_specs) of a version, restoring them once."""
        key = (version.id, version.sha256, version.created_at)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry
        entry = load_specs(_spec_json(session, version.id))
        logger.debug("restored specs of process version %s, key %s", version.id, key)
        with self._lock:
            self.loads += 1
            self._entries[key] = entry
            while len(self._entries) > self._max_versions:
                self._entries.popitem(last=False)
        return entry

    def clear(self) -> None:
        """Forget every cached spec and reset the restore count."""
        with self._lock:
            self._entries.clear()
            self.loads = 0


SPEC_CACHE = SpecCache()


def _spec_json(session: Session, version_id: int) -> str:
    query = select(ProcessVersion.spec_json).where(ProcessVersion.id == version_id)
    return session.execute(query).scalar_one()


def _root(xml: bytes):
    """Parse a diagram with entities, DTDs and network off; None if unreadable."""
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        return etree.fromstring(xml, parser)
    except (etree.XMLSyntaxError, ValueError):
        return None


def called_process_ids(xml: bytes) -> set[str]:
    """Return the process ids a diagram calls but does not define itself."""
    root = _root(xml)
    if root is None:
        return set()
    called = {
        el.get("calledElement")
        for el in root.iter(f"{{{BPMN_NS}}}callActivity")
        if el.get("calledElement")
    }
    defined = {el.get("id") for el in root.iter(f"{{{BPMN_NS}}}process")}
    return called - defined


def current_version(session: Session, process_key: str) -> ProcessVersion:
    """Return the current version of a definition, or say it is not deployed."""
    query = (
        select(ProcessVersion)
        .join(ProcessDefinition)
        .where(ProcessDefinition.process_key == process_key)
        .where(ProcessVersion.is_current.is_(True))
    )
    version = session.scalars(query).first()
    if version is None:
        raise NotFound(
            f"process {process_key!r} is not deployed; "
            f"run `flask process deploy` with its diagram first"
        )
    return version


def companions_of(session: Session, xml: bytes) -> tuple[dict, dict]:
    """Return the deployed diagrams a diagram calls, by file name, and their ids."""
    companions: dict[str, bytes] = {}
    called_versions: dict[str, int] = {}
    pending = sorted(called_process_ids(xml))
    while pending:
        key = pending.pop()
        if key in called_versions:
            continue
        try:
            version = current_version(session, key)
        except NotFound:
            raise InvalidDiagram(
                f"the diagram calls process {key!r}, which is not deployed; "
                "deploy that diagram first"
            ) from None
        called_xml = session.scalar(
            select(ProcessVersion.bpmn_xml).where(ProcessVersion.id == version.id)
        )
        companions[f"{key}.bpmn"] = called_xml
        called_versions[key] = version.id
        pending.extend(called_process_ids(called_xml) - called_versions.keys())
    return companions, called_versions


def deploy(
    session: Session,
    xml: bytes,
    *,
    filename: str,
    form_keys: Collection[str],
    lanes: Collection[str],
    comment: str = "",
    actor_id: int | None = None,
    lane_routes: Mapping[str, str] | None = None,
) -> DeployResult:
    """Validate a diagram and store it as the new current version of its process.

    `lane_routes` maps custom lane names to the routing keys their tasks go to; the
    stored version keeps the routing key, so a later change of the mapping applies
    to versions deployed after it.
    """
    from processes.validation import parse_diagram

    routes = dict(lane_routes or {})
    companions, called_versions = companions_of(session, xml)
    parsed = parse_diagram(
        xml,
        filename=filename,
        companions=companions,
        form_keys=form_keys,
        lanes=set(lanes) | set(routes),
    )
    _route_lanes(parsed, routes)
    sha256 = hashlib.sha256(xml).hexdigest()
    definition = _definition(session, parsed.process_id, parsed.name)

    current = _current_of(session, definition)
    if (
        current is not None
        and current.sha256 == sha256
        and current.called_versions == called_versions
    ):
        return DeployResult(current, created=False)

    version = _store_version(session, definition, parsed, xml, sha256, called_versions)
    version.filename = filename
    version.comment = comment
    version.created_by_id = actor_id
    if current is not None:
        current.is_current = False
    session.flush()
    record_event(
        session,
        "process.deployed",
        actor_id=actor_id,
        object_type="process_version",
        object_id=version.id,
        process=definition.process_key,
        version=version.version,
        sha256=sha256,
    )
    logger.info(
        "deployed %s version %s",
        definition.process_key,
        version.version,
        extra={"process_key": definition.process_key, "version": version.version},
    )
    return DeployResult(version, created=True)


def _route_lanes(parsed, routes: Mapping[str, str]) -> None:
    """Give the tasks of custom lanes the routing key their lane is mapped to."""
    if not routes:
        return
    for spec in (parsed.spec, *parsed.subprocess_specs.values()):
        for task_spec in spec.task_specs.values():
            lane = getattr(task_spec, "lane", None)
            if lane in routes:
                task_spec.lane = routes[lane]


def _definition(session: Session, process_key: str, name: str | None):
    query = select(ProcessDefinition).where(
        ProcessDefinition.process_key == process_key
    )
    definition = session.scalars(query).first()
    if definition is None:
        definition = ProcessDefinition(
            process_key=process_key, name=name or process_key
        )
        session.add(definition)
        session.flush()
    return definition


def _current_of(session: Session, definition: ProcessDefinition):
    query = (
        select(ProcessVersion)
        .where(ProcessVersion.definition_id == definition.id)
        .where(ProcessVersion.is_current.is_(True))
    )
    return session.scalars(query).first()


def _store_version(session, definition, parsed, xml, sha256, called_versions):
    latest = session.scalar(
        select(func.max(ProcessVersion.version)).where(
            ProcessVersion.definition_id == definition.id
        )
    )
    version = ProcessVersion(
        definition_id=definition.id,
        version=(latest or 0) + 1,
        bpmn_xml=xml,
        sha256=sha256,
        spec_json=dump_specs(parsed.spec, parsed.subprocess_specs),
        serializer_version=SERIALIZER_VERSION,
        called_versions=called_versions,
        is_current=True,
    )
    session.add(version)
    return version


def deployment_order(paths: list[Path]) -> list[Path]:
    """Order diagram files so that called processes are deployed before callers."""
    defined: dict[str, Path] = {}
    calls: dict[Path, set[str]] = {}
    for path in paths:
        xml = path.read_bytes()
        calls[path] = called_process_ids(xml)
        for process_id in _defined_process_ids(xml):
            defined[process_id] = path

    ordered: list[Path] = []
    visiting: set[Path] = set()

    def visit(path: Path) -> None:
        if path in ordered or path in visiting:
            return
        visiting.add(path)
        for key in sorted(calls[path]):
            if key in defined:
                visit(defined[key])
        ordered.append(path)

    for path in sorted(paths):
        visit(path)
    return ordered


def _defined_process_ids(xml: bytes) -> set[str]:
    root = _root(xml)
    if root is None:
        return set()
    return {el.get("id") for el in root.iter(f"{{{BPMN_NS}}}process")}
