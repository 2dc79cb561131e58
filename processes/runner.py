"""Run process instances step by step, one transaction per step.

Each step loads the instance row, rebuilds the workflow around its version's cached
specs, acts, runs the engine to its next wait, then saves the state with a version
check, syncs the human tasks, records the next timer and an audit event. The caller
commits; a concurrent writer gets `Conflict` and the caller rolls back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import inspect, select, update
from sqlalchemy.orm import Session, joinedload, undefer
from sqlalchemy.orm.attributes import set_committed_value

from app.models import HumanTask, ProcessInstance, ProcessVersion, record_event, utcnow
from processes import effects as step_effects
from processes import engine, human_tasks, migration
from processes.errors import Conflict, NotFound
from processes.human_tasks import ReadyTask
from processes.registry import SPEC_CACHE
from processes.serialization import SERIALIZER_VERSION, dump_state, load_state

logger = logging.getLogger(__name__)


def ignore_effects(session: Session, steps: list[StepResult]) -> None:
    """Drop the effects of steps; for callers that have nothing to apply."""


@dataclass
class StepResult:
    """What a step changed: the instance, its effects and the tasks now waiting."""

    instance: ProcessInstance
    effects: list = field(default_factory=list)
    ready_tasks: list[ReadyTask] = field(default_factory=list)


EffectHandler = Callable[[Session, list[StepResult]], None]


@dataclass(frozen=True)
class StartRequest:
    """One instance to start: its key, start data and place in the office tree."""

    business_key: str
    data: dict
    scope_path: str
    cycle_id: int | None = None
    unit_id: int | None = None


def start_instance(
    session: Session,
    version: ProcessVersion,
    request: StartRequest,
    *,
    actor_id: int | None = None,
    on_effects: EffectHandler = ignore_effects,
) -> StepResult:
    """Start an instance of a version and run it to its first wait."""
    return start_instances(
        session, version, [request], actor_id=actor_id, on_effects=on_effects
    )[0]


def start_instances(
    session: Session,
    version: ProcessVersion,
    requests: list[StartRequest],
    *,
    actor_id: int | None = None,
    on_effects: EffectHandler = ignore_effects,
) -> list[StepResult]:
    """Start many instances of one version with one flush per table."""
    spec, subprocess_specs = SPEC_CACHE.get(session, version)
    started = []
    for request in requests:
        with step_effects.collecting() as effects:
            workflow = engine.new_workflow(spec, subprocess_specs, request.data)
        instance = ProcessInstance(
            version_id=version.id,
            business_key=request.business_key,
            cycle_id=request.cycle_id,
            unit_id=request.unit_id,
            scope_path=request.scope_path,
            state_json=dump_state(workflow),
            serializer_version=SERIALIZER_VERSION,
            lock_version=1,
            next_timer_due_at=engine.next_timer_due(workflow),
        )
        _apply_status(instance, workflow)
        started.append((instance, workflow, effects))
    session.add_all([instance for instance, _, _ in started])
    session.flush()

    results = []
    for instance, workflow, effects in started:
        ready = human_tasks.add(
            session, instance, workflow, engine.ready_user_tasks(workflow)
        )
        record_event(
            session,
            "instance.started",
            actor_id=actor_id,
            instance_id=instance.id,
            business_key=instance.business_key,
            version_id=version.id,
        )
        results.append((instance, effects, ready))
    session.flush()
    results = [
        StepResult(instance, effects, [human_tasks.ready_view(t) for t in ready])
        for instance, effects, ready in results
    ]
    on_effects(session, results)
    return results


def instance_options():
    """Return loader options that bring an instance's state and version along."""
    return (undefer(ProcessInstance.state_json), joinedload(ProcessInstance.version))


def load_instance(session: Session, instance_id: int) -> ProcessInstance:
    """Load an instance row with its state, or raise NotFound."""
    query = (
        select(ProcessInstance)
        .options(*instance_options())
        .where(ProcessInstance.id == instance_id)
        .execution_options(populate_existing=True)
    )
    instance = session.scalars(query).first()
    if instance is None:
        raise NotFound(f"process instance {instance_id} does not exist")
    return instance


def load_workflow(session: Session, instance: ProcessInstance):
    """Rebuild the workflow of an instance around its version's cached specs."""
    spec, subprocess_specs = SPEC_CACHE.get(session, instance.version)
    workflow = load_state(
        instance.state_json, instance.serializer_version, spec, subprocess_specs
    )
    return engine.attach(workflow)


def complete_task(
    session: Session,
    human_task: HumanTask,
    *,
    data: dict,
    actor_id: int | None,
    expected_version: int | None = None,
    on_effects: EffectHandler = ignore_effects,
) -> StepResult:
    """Complete a waiting user task with form data and run to the next wait."""
    instance = human_task.instance
    if "state_json" in inspect(instance).unloaded:
        instance = load_instance(session, human_task.instance_id)
    version_seen = expected_version or instance.lock_version
    _check_version(instance, version_seen)
    workflow = load_workflow(session, instance)
    task = engine.find_ready_task(workflow, human_task.task_uuid)

    with step_effects.collecting() as effects:
        engine.complete(workflow, task, data)

    _save(session, instance, workflow, version_seen)
    human_task.state = "completed"
    human_task.completed_by_id = actor_id
    human_task.completed_at = utcnow()
    ready = human_tasks.sync(session, [(instance, workflow)])[instance.id]
    record_event(
        session,
        "task.completed",
        actor_id=actor_id,
        instance_id=instance.id,
        task_uuid=human_task.task_uuid,
        task=human_task.bpmn_id,
        title=human_task.title,
    )
    logger.info(
        "task %s of instance %s completed",
        human_task.bpmn_id,
        instance.id,
        extra={"instance_id": instance.id, "task_uuid": human_task.task_uuid},
    )
    result = StepResult(instance, effects, ready)
    on_effects(session, [result])
    return result


def check_migration(
    session: Session,
    instance: ProcessInstance,
    target: ProcessVersion,
    spec_diffs: dict | None = None,
) -> migration.MigrationCheck:
    """Say whether an instance can move to another version of its diagram."""
    if instance.status != "running":
        return migration.MigrationCheck(reasons=[f"it is {instance.status}"])
    workflow = load_workflow(session, instance)
    spec, subprocess_specs = SPEC_CACHE.get(session, target)
    return migration.check(workflow, spec, subprocess_specs, spec_diffs)


def migrate_instance(
    session: Session,
    instance_id: int,
    target: ProcessVersion,
    *,
    actor_id: int | None,
) -> StepResult:
    """Move a running instance onto another version; waiting steps are re-created.

    A waiting step that someone had claimed stays claimed by them.
    """
    instance = load_instance(session, instance_id)
    version_seen = instance.lock_version
    workflow = load_workflow(session, instance)
    spec, subprocess_specs = SPEC_CACHE.get(session, target)
    checked = migration.check(workflow, spec, subprocess_specs)
    if not checked.possible:
        raise Conflict(
            f"instance {instance_id} cannot move to version {target.version}: "
            + "; ".join(checked.reasons)
        )

    claims = _claims_by_step(session, instance.id)
    previous = instance.version
    migration.migrate(workflow, checked)
    workflow.subprocess_specs = subprocess_specs
    engine.run_engine_steps(workflow)
    _save(session, instance, workflow, version_seen, version_id=target.id)
    ready = human_tasks.sync(session, [(instance, workflow)])[instance.id]
    _restore_claims(session, instance.id, claims)
    record_event(
        session,
        "instance.migrated",
        actor_id=actor_id,
        instance_id=instance.id,
        from_version=previous.version,
        to_version=target.version,
    )
    logger.info(
        "instance %s moved from version %s to %s",
        instance.id,
        previous.version,
        target.version,
        extra={"instance_id": instance.id},
    )
    return StepResult(instance, [], ready)


def _claims_by_step(session: Session, instance_id: int) -> dict[str, int]:
    rows = session.execute(
        select(HumanTask.bpmn_id, HumanTask.claimed_by_id).where(
            HumanTask.instance_id == instance_id,
            HumanTask.state == "ready",
            HumanTask.claimed_by_id.is_not(None),
        )
    )
    return {row.bpmn_id: row.claimed_by_id for row in rows}


def _restore_claims(session: Session, instance_id: int, claims: dict) -> None:
    for bpmn_id, user_id in claims.items():
        session.execute(
            update(HumanTask)
            .where(
                HumanTask.instance_id == instance_id,
                HumanTask.state == "ready",
                HumanTask.bpmn_id == bpmn_id,
            )
            .values(claimed_by_id=user_id)
        )


def set_waiting_data(
    session: Session,
    instance_id: int,
    bpmn_id: str,
    values: dict,
    *,
    actor_id: int | None = None,
) -> ProcessInstance:
    """Give a waiting event new data its diagram routes on once it fires.

    Raises Conflict when the instance no longer waits at that event, e.g. because
    its timer fired first.
    """
    instance = load_instance(session, instance_id)
    version_seen = instance.lock_version
    workflow = load_workflow(session, instance)
    if engine.set_waiting_data(workflow, bpmn_id, values) == 0:
        raise Conflict(f"the process no longer waits at {bpmn_id}; reload the page")

    _save(session, instance, workflow, version_seen)
    record_event(
        session,
        "instance.data_set",
        actor_id=actor_id,
        instance_id=instance.id,
        task=bpmn_id,
        keys=sorted(values),
    )
    return instance


def mark_failed(session: Session, instance_id: int, message: str) -> None:
    """Take an instance out of timer processing after its diagram failed."""
    session.execute(
        update(ProcessInstance)
        .where(ProcessInstance.id == instance_id)
        .values(status="error", next_timer_due_at=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    record_event(session, "instance.failed", instance_id=instance_id, error=message)
    logger.error(
        "instance %s stopped: %s",
        instance_id,
        message,
        extra={"instance_id": instance_id},
    )


def _check_version(instance: ProcessInstance, expected_version: int) -> None:
    if instance.lock_version != expected_version:
        raise Conflict(
            "this work item was changed by someone else after you opened it; "
            "reload the page to see the current state"
        )


def _save(
    session, instance, workflow, version_seen: int, *, version_id: int | None = None
) -> None:
    values = saved_values(workflow, version_seen)
    if version_id is not None:
        values["version_id"] = version_id
    # On the table, not the entity: the loaded row is updated below by hand.
    table = ProcessInstance.__table__
    statement = (
        update(table)
        .where(table.c.id == instance.id)
        .where(table.c.lock_version == version_seen)
        .values(**values)
    )
    if session.execute(statement).rowcount != 1:
        raise Conflict(
            "someone else completed a step of this work item at the same time; "
            "reload the page to see the current state"
        )
    mark_saved(instance, values)


def saved_values(workflow, version_seen: int) -> dict:
    """Return the instance row's new values after a step on the workflow."""
    values = {
        "state_json": dump_state(workflow),
        "serializer_version": SERIALIZER_VERSION,
        "lock_version": version_seen + 1,
        "next_timer_due_at": engine.next_timer_due(workflow),
        "updated_at": utcnow(),
    }
    values.update(_status_values(workflow))
    return values


def mark_saved(instance: ProcessInstance, values: dict) -> None:
    """Give the loaded row the values just written, without reloading it."""
    for name, value in values.items():
        set_committed_value(instance, name, value)


def _status_values(workflow) -> dict:
    if workflow.completed:
        return {"status": "completed", "completed_at": utcnow()}
    return {"status": "running", "completed_at": None}


def _apply_status(instance: ProcessInstance, workflow) -> None:
    for name, value in _status_values(workflow).items():
        setattr(instance, name, value)
