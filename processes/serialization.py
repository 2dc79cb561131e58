"""Workflow state to JSON and back, with specs kept out of the stored state.

A stored instance holds only its task tree and data. The process spec and the specs of
called processes are stored once per deployed version and restored from an in-memory
cache, so loading an instance never parses or deserializes a spec again.
"""

from __future__ import annotations

import json
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer as SpiffSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnWorkflowConverter as SpiffWorkflowConverter,
)
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    WorkflowConverter as SpiffBaseWorkflowConverter,
)
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow as SpiffWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from processes.errors import EngineError

SERIALIZER_VERSION = "1.5"
SUPPORTED_SERIALIZER_VERSIONS = frozenset({SERIALIZER_VERSION})


class StateOnlyConverter(SpiffWorkflowConverter):
    """Convert a top-level workflow without its specs, and back with cached ones."""

    def to_dict(self, workflow: SpiffWorkflow) -> dict:
        """Return the task tree, data and pending events of the workflow."""
        state = SpiffBaseWorkflowConverter.to_dict(self, workflow)
        state["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        state["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return state

    def from_dict(self, dct: dict, spec=None, subprocess_specs=None) -> SpiffWorkflow:
        """Rebuild a workflow around specs that were restored earlier."""
        if spec is None:
            return super().from_dict(dct)
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.tasks = tasks
        workflow.task_tree = tasks.get(UUID(dct["root"]))

        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.get("bpmn_events", []))
        return workflow


def _build_serializer() -> SpiffSerializer:
    config = dict(SPIFF_CONFIG)
    config[SpiffWorkflow] = StateOnlyConverter
    return SpiffSerializer(
        SpiffSerializer.configure(config), version=SERIALIZER_VERSION
    )


SERIALIZER = _build_serializer()


def dump_specs(spec, subprocess_specs: dict) -> str:
    """Serialize a process spec and its called specs for storage with a version."""
    document = {
        "spec": SERIALIZER.to_dict(spec),
        "subprocess_specs": {
            name: SERIALIZER.to_dict(sub) for name, sub in subprocess_specs.items()
        },
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def load_specs(spec_json: str) -> tuple:
    """Restore the process spec and called specs stored with a version."""
    document = json.loads(spec_json)
    spec = SERIALIZER.from_dict(document["spec"])
    subprocess_specs = {
        name: SERIALIZER.from_dict(sub)
        for name, sub in document["subprocess_specs"].items()
    }
    return spec, subprocess_specs


def dump_state(workflow: SpiffWorkflow) -> str:
    """Serialize a workflow's state without its specs."""
    state = SERIALIZER.to_dict(workflow)
    return json.dumps(state, separators=(",", ":"))


def load_state(
    state_json: str, serializer_version: str, spec, subprocess_specs: dict
) -> SpiffWorkflow:
    """Rebuild a workflow from stored state and its version's cached specs."""
    if serializer_version not in SUPPORTED_SERIALIZER_VERSIONS:
        raise EngineError(
            f"the stored workflow state has serializer version {serializer_version!r}, "
            f"but this release reads only {sorted(SUPPORTED_SERIALIZER_VERSIONS)}; "
            "migrate the instance with the release that wrote it first"
        )
    state = json.loads(state_json)
    return SERIALIZER.registry.restore(
        state, spec=spec, subprocess_specs=subprocess_specs
    )
