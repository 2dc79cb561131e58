"""The engine layer: versions, spec cache, stored state and reloads."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.models import ProcessInstance, ProcessVersion
from app.services.base import transaction
from forms.registry import FORM_KEYS
from processes import engine, registry, runner
from processes.errors import EngineError, InvalidDiagram
from processes.lint import KNOWN_LANES
from processes.serialization import dump_state, load_state
from tests.factories import SHIPPED, submit


def deploy_file(session, xml: bytes, filename="custom.bpmn"):
    """Deploy a diagram in its own transaction."""
    with transaction(session):
        return registry.deploy(
            session, xml, filename=filename, form_keys=FORM_KEYS, lanes=KNOWN_LANES
        )


def test_shipped_diagrams_are_current_versions_with_their_hash(session, world):
    """Deploying the shipped diagrams stores XML, sha256 and the spec once."""
    versions = session.scalars(select(ProcessVersion)).all()
    keys = sorted(v.definition.process_key for v in versions)
    assert keys == ["creation_task", "public_report", "rectification", "title_review"]
    creation = registry.current_version(session, "creation_task")
    assert creation.called_versions == {
        "rectification": registry.current_version(session, "rectification").id
    }
    assert len(creation.sha256) == 64


def test_redeploying_the_same_diagram_keeps_the_version(session, world):
    """An unchanged diagram does not make a new version; a changed one does."""
    xml = (SHIPPED / "creation_task.bpmn").read_bytes()
    assert deploy_file(session, xml).created is False

    changed = xml.replace("创建任务".encode(), "年度创建任务".encode(), 1)
    result = deploy_file(session, changed)
    assert result.created and result.version.version == 2
    current = registry.current_version(session, "creation_task")
    assert current.id == result.version.id


def test_running_instances_keep_their_version(session, world):
    """A new version serves new instances; running ones stay on theirs."""
    old = registry.current_version(session, "creation_task")
    xml = (SHIPPED / "creation_task.bpmn").read_bytes()
    deploy_file(session, xml.replace("创建任务".encode(), "新版".encode(), 1))
    submit(session, world, "school")
    instance = session.scalars(select(ProcessInstance)).first()
    assert instance.version_id == old.id


def test_invalid_diagram_is_refused_and_nothing_is_stored(session, world):
    """A diagram with an unknown lane names the element and stores nothing."""
    xml = (SHIPPED / "creation_task.bpmn").read_bytes()
    bad = xml.replace(b'name="county"', b'name="janitor"', 1)
    count = len(session.scalars(select(ProcessVersion)).all())
    with pytest.raises(InvalidDiagram) as raised:
        deploy_file(session, bad)
    assert any("janitor" in str(p) for p in raised.value.problems)
    assert len(session.scalars(select(ProcessVersion)).all()) == count


def test_unknown_form_key_is_refused_at_deploy(session, world):
    """A user task naming a form the registry lacks cannot be deployed."""
    xml = (SHIPPED / "creation_task.bpmn").read_bytes()
    bad = xml.replace(b'value="unit_submission"', b'value="survey"', 1)
    with pytest.raises(InvalidDiagram) as raised:
        deploy_file(session, bad)
    assert any("survey" in str(p) for p in raised.value.problems)


def test_caller_needs_its_called_process_deployed(session):
    """Deploying the creation task before rectification is refused clearly."""
    xml = (SHIPPED / "creation_task.bpmn").read_bytes()
    with pytest.raises(InvalidDiagram, match="rectification"):
        deploy_file(session, xml, "creation_task.bpmn")


def test_stored_state_has_no_spec(session, world):
    """The instance row keeps the task tree and data, not the spec."""
    instance = runner.load_instance(
        session, session.scalars(select(ProcessInstance.id)).first()
    )
    state = json.loads(instance.state_json)
    assert "spec" not in state and "subprocess_specs" not in state
    assert instance.serializer_version == "1.5"


def test_specs_are_restored_once_per_version(session, world):
    """Loading many instances restores each version's spec a single time."""
    registry.SPEC_CACHE.clear()
    ids = session.scalars(select(ProcessInstance.id)).all()
    for instance_id in ids:
        runner.load_workflow(session, runner.load_instance(session, instance_id))
    assert len(ids) > 1
    assert registry.SPEC_CACHE.loads == 1


def test_unknown_serializer_version_is_refused(session, world):
    """State written by another serializer version is refused with a clear error."""
    instance = runner.load_instance(
        session, session.scalars(select(ProcessInstance.id)).first()
    )
    instance.serializer_version = "1.4"
    with pytest.raises(EngineError, match="serializer version '1.4'"):
        runner.load_workflow(session, instance)


def test_reloaded_instance_behaves_identically(session, world):
    """A workflow reloaded from its row completes exactly like the live one."""
    instance = session.scalars(select(ProcessInstance)).first()
    instance = runner.load_instance(session, instance.id)
    spec, subprocess_specs = registry.SPEC_CACHE.get(session, instance.version)
    live = runner.load_workflow(session, instance)
    reloaded = engine.attach(
        load_state(dump_state(live), "1.5", spec, subprocess_specs)
    )
    assert dump_state(reloaded) == dump_state(live)

    for workflow in (live, reloaded):
        task = engine.ready_user_tasks(workflow)[0]
        engine.complete(workflow, task, {"submitted": True})
    assert shape(reloaded) == shape(live)
    assert [t.task_spec.bpmn_id for t in engine.ready_user_tasks(reloaded)] == [
        "review_county"
    ]


def shape(workflow) -> list:
    """Return the workflow's tasks by spec, state and data, ignoring fresh ids."""
    return sorted(
        (t.task_spec.name, t.state, json.dumps(t.data, sort_keys=True))
        for t in workflow.get_tasks()
    )
