"""Operations on SpiffWorkflow objects: start, inspect, complete, fire timers.

Nothing here touches the database; the runner loads and saves around these calls.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from uuid import UUID

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow as SpiffWorkflow
from SpiffWorkflow.exceptions import WorkflowException as SpiffWorkflowException
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState as SpiffTaskState

from processes.errors import Conflict, EngineError, NotFound
from processes.functions import DIAGRAM_FUNCTIONS, parse_instant

logger = logging.getLogger(__name__)

TIMER_EVENT_TYPES = frozenset(
    {
        "TimeDateEventDefinition",
        "DurationTimerEventDefinition",
        "CycleTimerEventDefinition",
    }
)


@dataclass(frozen=True)
class UserTaskView:
    """What the platform needs to know about a waiting user task."""

    task_uuid: str
    bpmn_id: str
    title: str
    lane: str | None
    form_key: str | None
    instructions: str
    due_at: datetime | None


@cache
def script_engine():
    """Return the shared restricted script engine with the diagram functions."""
    from processes.scripting import make_script_engine

    return make_script_engine(DIAGRAM_FUNCTIONS)


def new_workflow(spec, subprocess_specs: dict, data: dict) -> SpiffWorkflow:
    """Create a workflow, give it its start data and run it to its first wait."""
    workflow = SpiffWorkflow(spec, subprocess_specs, script_engine=script_engine())
    workflow.task_tree.data.update(data)
    run_engine_steps(workflow)
    return workflow


def attach(workflow: SpiffWorkflow) -> SpiffWorkflow:
    """Give a restored workflow the platform's script engine."""
    workflow.script_engine = script_engine()
    return workflow


def run_engine_steps(workflow: SpiffWorkflow) -> None:
    """Run gateways, scripts and events until the workflow waits, naming failures."""
    try:
        workflow.do_engine_steps()
    except SpiffWorkflowException as error:
        raise EngineError(describe_engine_error(error)) from error


def describe_engine_error(error: SpiffWorkflowException) -> str:
    """Turn an engine exception into a message naming the element and line."""
    task = getattr(error, "task", None)
    spec = getattr(task, "task_spec", None)
    where = ""
    if spec is not None:
        where = f"{spec.bpmn_id} ({spec.bpmn_name or spec.bpmn_id})"
    line = getattr(error, "line_number", None)
    if line:
        where += f", line {line}"
    message = getattr(error, "error_msg", None) or str(error)
    return f"{where}: {message}" if where else message


def ready_user_tasks(workflow: SpiffWorkflow) -> list[SpiffTask]:
    """Return the user tasks that wait for a person, in tree order."""
    return workflow.get_tasks(state=SpiffTaskState.READY, manual=True)


def describe(workflow: SpiffWorkflow, task: SpiffTask) -> UserTaskView:
    """Describe a waiting user task from its spec's lane and properties."""
    spec = task.task_spec
    extensions = getattr(spec, "extensions", {}) or {}
    properties = extensions.get("properties", {}) or {}
    return UserTaskView(
        task_uuid=str(task.id),
        bpmn_id=spec.bpmn_id,
        title=spec.bpmn_name or spec.bpmn_id,
        lane=spec.lane,
        form_key=properties.get("form"),
        instructions=extensions.get("instructionsForEndUser", "") or "",
        due_at=_evaluate_due(workflow, task, properties.get("due")),
    )


def _evaluate_due(workflow: SpiffWorkflow, task: SpiffTask, expression: str | None):
    if not expression:
        return None
    try:
        return parse_instant(str(workflow.script_engine.evaluate(task, expression)))
    except Exception:
        logger.warning(
            "due expression %r of %s did not give a date",
            expression,
            task.task_spec.bpmn_id,
            exc_info=True,
        )
        return None


def find_ready_task(workflow: SpiffWorkflow, task_uuid: str) -> SpiffTask:
    """Return the ready user task with this id, or say why it cannot be acted on."""
    try:
        task = workflow.get_task_from_id(UUID(task_uuid))
    except (ValueError, KeyError, SpiffWorkflowException):
        raise NotFound(f"task {task_uuid} is not part of this workflow") from None
    if task is None:
        raise NotFound(f"task {task_uuid} is not part of this workflow")
    if not task.task_spec.manual or task.state != SpiffTaskState.READY:
        state = SpiffTaskState.get_name(task.state)
        raise Conflict(
            f"task {task.task_spec.bpmn_name} is no longer waiting ({state})"
        )
    return task


def complete(workflow: SpiffWorkflow, task: SpiffTask, data: dict) -> None:
    """Complete a user task with the form's data and run on to the next wait."""
    task.data.update(data)
    try:
        task.run()
    except SpiffWorkflowException as error:
        raise EngineError(describe_engine_error(error)) from error
    run_engine_steps(workflow)


def fire_timers(workflow: SpiffWorkflow) -> None:
    """Let every timer that is due fire, and run what follows."""
    workflow.refresh_timers()
    run_engine_steps(workflow)


def set_waiting_data(workflow: SpiffWorkflow, bpmn_id: str, values: dict) -> int:
    """Merge values into the data of the waiting events with this id; count them."""
    waiting = [
        task
        for task in workflow.get_tasks(state=SpiffTaskState.WAITING)
        if task.task_spec.bpmn_id == bpmn_id
    ]
    for task in waiting:
        task.data.update(values)
        # A firing event merges its parent's data over its own: set both.
        if task.parent is not None:
            task.parent.data.update(values)
    return len(waiting)


def next_timer_due(workflow: SpiffWorkflow) -> datetime | None:
    """Return when the earliest pending timer of the workflow falls due."""
    due_times = []
    for event in workflow.waiting_events():
        if event.event_type not in TIMER_EVENT_TYPES or event.value is None:
            continue
        value = event.value
        if isinstance(value, dict):
            value = value.get("next")
        due_times.append(parse_instant(str(value)))
    return min(due_times, default=None)
