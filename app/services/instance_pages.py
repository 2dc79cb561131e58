"""Read models of the instance page: the path taken, the timeline and the scores.

The page shows one process instance to anyone whose scope covers it: the diagram
with the steps already done and the steps waiting, every audit event in order,
and the materials and scores gathered so far. Everything is loaded with a fixed
number of queries, whatever the number of reviews, items or events.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow as SpiffWorkflow
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState as SpiffTaskState
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.models import (
    Archive,
    EvidenceFile,
    Indicator,
    ProcessInstance,
    ProcessVersion,
    RectificationOrder,
    Review,
    Submission,
    SubmissionResponse,
    User,
)
from app.services import scope
from app.services.inbox import InstanceView, instance_view
from app.services.task_pages import item_evidence
from processes import runner
from processes.errors import NotFound
from processes.xml_reading import read_xml

logger = logging.getLogger(__name__)

SHAPE_TAG = "{http://www.omg.org/spec/BPMN/20100524/DI}BPMNShape"


@dataclass(frozen=True)
class DiagramState:
    """Which elements of the top-level diagram are done and which wait now."""

    completed: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Materials:
    """What the unit submitted and what the offices decided, round by round."""

    submissions: list[Submission]
    reviews: list[Review]
    orders: list[RectificationOrder]
    archive: Archive | None
    indicators: dict[int, Indicator]
    people: dict[int, User]
    item_evidence: dict[int, list[EvidenceFile]] = field(default_factory=dict)


@dataclass(frozen=True)
class InstancePage:
    """Everything the instance page shows."""

    view: InstanceView
    diagram: DiagramState
    materials: Materials


def visible_instance(session: Session, user: User, instance_id: int) -> ProcessInstance:
    """Return the instance if it lies inside the user's scope, else raise NotFound."""
    instance = session.get(ProcessInstance, instance_id)
    if instance is None or not scope.sees_path(user, instance.scope_path):
        raise NotFound(
            f"instance {instance_id} does not exist or is outside your scope"
        )
    return instance


def instance_page(session: Session, user: User, instance_id: int) -> InstancePage:
    """Return the instance page of an instance inside the user's scope."""
    view = instance_view(session, user, instance_id)

    diagram = diagram_state(session, view.instance.id)
    materials = load_materials(session, view.instance.id)

    return InstancePage(view=view, diagram=diagram, materials=materials)


def diagram_xml(session: Session, user: User, instance_id: int) -> bytes:
    """Return the stored diagram of the instance's version, scope-checked."""
    instance = visible_instance(session, user, instance_id)
    return session.scalar(
        select(ProcessVersion.bpmn_xml).where(ProcessVersion.id == instance.version_id)
    )


def diagram_state(session: Session, instance_id: int) -> DiagramState:
    """Return the completed and current element ids drawn in the top-level diagram."""
    instance = runner.load_instance(session, instance_id)
    workflow = runner.load_workflow(session, instance)
    drawn = drawn_element_ids(session, instance.version_id)

    current = _ordered(_current_ids(workflow), drawn)
    done = {
        task.task_spec.bpmn_id
        for task in workflow.get_tasks()
        if task.workflow is workflow and task.state == SpiffTaskState.COMPLETED
    }
    completed = _ordered(done - set(current), drawn)
    return DiagramState(completed=completed, current=current)


def drawn_element_ids(session: Session, version_id: int) -> list[str]:
    """Return the ids of the elements that have a shape in a version's diagram."""
    xml = session.scalar(
        select(ProcessVersion.bpmn_xml).where(ProcessVersion.id == version_id)
    )
    document, problems = read_xml(xml, "diagram.bpmn")
    if document is None:
        logger.warning("version %s has an unreadable diagram: %s", version_id, problems)
        return []
    shapes = document.root.iter(SHAPE_TAG)
    return [shape.get("bpmnElement") for shape in shapes if shape.get("bpmnElement")]


def load_materials(session: Session, instance_id: int) -> Materials:
    """Return submissions, reviews, rectification orders and the archive, eagerly."""
    submissions = session.scalars(
        select(Submission)
        .where(Submission.instance_id == instance_id)
        .options(
            selectinload(Submission.responses).selectinload(SubmissionResponse.evidence)
        )
        .order_by(Submission.round)
    ).all()
    reviews = session.scalars(
        select(Review)
        .where(Review.instance_id == instance_id)
        .options(selectinload(Review.scores))
        .order_by(Review.created_at, Review.id)
    ).all()
    orders = session.scalars(
        select(RectificationOrder)
        .where(RectificationOrder.instance_id == instance_id)
        .options(selectinload(RectificationOrder.items))
        .order_by(RectificationOrder.created_at, RectificationOrder.id)
    ).all()
    archive = session.scalar(select(Archive).where(Archive.instance_id == instance_id))

    return Materials(
        submissions=list(submissions),
        reviews=list(reviews),
        orders=list(orders),
        archive=archive,
        indicators=_indicators(session, submissions, reviews, orders),
        people=_people(session, submissions, reviews),
        item_evidence=item_evidence(
            session, [item for order in orders for item in order.items]
        ),
    )


def _current_ids(workflow: SpiffWorkflow) -> list[str]:
    ready = workflow.get_tasks(state=SpiffTaskState.READY, manual=True)
    return [_top_level(workflow, task).task_spec.bpmn_id for task in ready]


def _top_level(workflow: SpiffWorkflow, task: SpiffTask) -> SpiffTask:
    # A step of a called process is shown on the call activity that started it.
    while task.workflow is not workflow:
        task = workflow.get_task_from_id(task.workflow.parent_task_id)
    return task


def _ordered(ids, drawn: list[str]) -> list[str]:
    wanted = set(ids)
    return [element_id for element_id in drawn if element_id in wanted]


def _indicators(session, submissions, reviews, orders) -> dict[int, Indicator]:
    ids = {r.indicator_id for s in submissions for r in s.responses}
    ids |= {score.indicator_id for review in reviews for score in review.scores}
    ids |= {item.indicator_id for order in orders for item in order.items}
    ids.discard(None)
    if not ids:
        return {}
    rows = session.scalars(select(Indicator).where(Indicator.id.in_(ids)))
    return {indicator.id: indicator for indicator in rows}


def _people(session, submissions, reviews) -> dict[int, User]:
    ids = {s.submitted_by_id for s in submissions} | {r.reviewer_id for r in reviews}
    ids.discard(None)
    if not ids:
        return {}
    rows = session.scalars(select(User).where(User.id.in_(ids)))
    return {person.id: person for person in rows}
