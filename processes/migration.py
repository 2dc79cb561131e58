"""Moving a running workflow onto another version of its diagram, when that is safe.

A workflow can move when nothing it has already done, or is doing, changes: every
task spec that is removed or changed in the new version must have no completed or
started task in the workflow. Waiting and future tasks are re-predicted from the new
version; the called processes it is inside of are checked the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from SpiffWorkflow import TaskState as SpiffTaskState
from SpiffWorkflow.bpmn.util.diff import SpecDiff as SpiffSpecDiff
from SpiffWorkflow.bpmn.util.diff import WorkflowDiff as SpiffWorkflowDiff
from SpiffWorkflow.bpmn.util.diff import migrate_workflow as spiff_migrate
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow as SpiffWorkflow

from processes.serialization import SERIALIZER

DONE_STATES = SpiffTaskState.COMPLETED | SpiffTaskState.STARTED | SpiffTaskState.ERROR
# Internal specs every process has; they carry no meaning for a person.
INTERNAL_SPECS = frozenset({"Start", "End", "Root"})


@dataclass
class MigrationCheck:
    """Whether a workflow can move to a version, and if not, why not."""

    reasons: list[str] = field(default_factory=list)
    _diffs: list = field(default_factory=list, repr=False)

    @property
    def possible(self) -> bool:
        """Tell whether the workflow can move."""
        return not self.reasons


def check(
    workflow: SpiffWorkflow,
    spec,
    subprocess_specs: dict,
    spec_diffs: dict | None = None,
) -> MigrationCheck:
    """Compare a workflow with a new spec and say whether moving it is safe.

    Pass the same `spec_diffs` dict when checking many workflows: the comparison of
    two specs is made once and kept there.
    """
    spec_diffs = {} if spec_diffs is None else spec_diffs
    result = MigrationCheck()
    top = _spec_diff(spec_diffs, workflow.spec, spec)
    result._diffs.append((workflow, SpiffWorkflowDiff(workflow, top), spec))
    result.reasons.extend(_blockers(workflow, top))

    for subprocess in workflow.subprocesses.values():
        name = subprocess.spec.name
        new_spec = subprocess_specs.get(name)
        if new_spec is None:
            result.reasons.append(
                f"it is inside called process {name}, which the new version no "
                "longer calls"
            )
            continue
        diff = SpiffSpecDiff(SERIALIZER.registry, subprocess.spec, new_spec)
        result._diffs.append(
            (subprocess, SpiffWorkflowDiff(subprocess, diff), new_spec)
        )
        result.reasons.extend(_blockers(subprocess, diff, inside=name))
    return result


def _spec_diff(cache: dict, old_spec, new_spec) -> SpiffSpecDiff:
    # Specs come from the shared cache, so the same objects recur across workflows.
    key = (id(old_spec), id(new_spec))
    if key not in cache:
        cache[key] = SpiffSpecDiff(SERIALIZER.registry, old_spec, new_spec)
    return cache[key]


def _blockers(workflow, diff: SpiffSpecDiff, inside: str | None = None) -> list[str]:
    """Describe each done or running step whose spec is removed or changed."""
    touched = {spec: "removed" for spec in diff.removed}
    touched.update({spec: "changed" for spec in diff.changed})
    reasons = []
    seen = set()
    for task in workflow.get_tasks(skip_subprocesses=True):
        spec = task.task_spec
        if spec not in touched or spec.name in seen or not task.state & DONE_STATES:
            continue
        if spec.name in INTERNAL_SPECS:
            continue
        seen.add(spec.name)
        label = spec.bpmn_name or spec.name
        where = f" in called process {inside}" if inside else ""
        reasons.append(
            f"step {spec.name} ({label}){where} has already run and is "
            f"{touched[spec]} in the new version"
        )
    return reasons


def migrate(workflow: SpiffWorkflow, checked: MigrationCheck) -> None:
    """Move a checked workflow onto the new specs; waiting tasks are re-predicted."""
    if not checked.possible:
        raise ValueError("this workflow cannot move: " + "; ".join(checked.reasons))
    for target, diff, spec in checked._diffs:
        spiff_migrate(diff, target, spec)
