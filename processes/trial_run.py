"""Run a diagram in memory along a chosen path, before it is deployed.

Nothing is stored and no diagram effect (notification, archive, title change) is
applied: the run answers each waiting user task as the chosen path says and records
the steps taken, so an administrator sees on the diagram where work would go.
Timers are not waited for; their branches stay where they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from SpiffWorkflow import TaskState as SpiffTaskState

from processes import effects as step_effects
from processes import engine
from processes.errors import EngineError

PATHS = ("approve", "rectify_once", "fail")
MAX_STEPS = 60
SAMPLE_REVIEW_LEVELS = ["county", "city", "province"]


@dataclass(frozen=True)
class TrialStep:
    """One user task the run answered."""

    bpmn_id: str
    name: str
    lane: str
    form_key: str
    answer: dict


@dataclass
class TrialRun:
    """Where a run along a path went and how it ended."""

    path: str
    steps: list[TrialStep] = field(default_factory=list)
    completed_ids: list[str] = field(default_factory=list)
    waiting_ids: list[str] = field(default_factory=list)
    finished: bool = False
    error: str | None = None
    outcome: str | None = None

    def as_json(self) -> dict:
        """Return the run as the editor shows it."""
        return {
            "path": self.path,
            "steps": [step.__dict__ for step in self.steps],
            "completed_ids": self.completed_ids,
            "waiting_ids": self.waiting_ids,
            "finished": self.finished,
            "error": self.error,
            "outcome": self.outcome,
        }


def sample_start_data(now: datetime | None = None) -> dict:
    """Return start data for a sample unit reviewed at every level."""
    now = now or datetime.now(UTC)
    due = {
        "submission_due": now + timedelta(days=30),
        "county_review_due": now + timedelta(days=45),
        "city_review_due": now + timedelta(days=55),
        "province_review_due": now + timedelta(days=65),
    }
    data = {key: value.isoformat() for key, value in due.items()}
    data.update(
        unit_id=0,
        cycle_id=0,
        title_review_id=0,
        review_levels=list(SAMPLE_REVIEW_LEVELS),
        needs_leader_signoff=False,
        reminder_lead="P2D",
        notice_term="P7D",
        rectification_round=0,
        proposal=None,
        rectify_days=None,
    )
    return data


class _Answers:
    """The answer each form gets on a path; rectify once, then approve."""

    def __init__(self, path: str) -> None:
        if path not in PATHS:
            raise ValueError(f"choose a path of {', '.join(PATHS)}, not {path!r}")
        self.path = path
        self.rectified = False

    def for_form(self, form_key: str, lane: str) -> dict:
        """Return the task data the form would give on this path."""
        if form_key == "review":
            return self._review(lane)
        if form_key == "verification":
            return {"verification": "passed"}
        if form_key == "leader_signoff":
            return {"signoff_decision": "approve"}
        if form_key in ("title_propose", "title_objections"):
            return {"proposal": "keep", "rectify_days": None}
        if form_key == "title_approve":
            return {"approval": "approve"}
        return {}

    def _review(self, lane: str) -> dict:
        if self.path == "fail":
            return {"decision": "fail"}
        if self.path == "rectify_once" and not self.rectified:
            self.rectified = True
            due = (datetime.now(UTC) + timedelta(days=7)).isoformat()
            return {
                "decision": "rectify",
                "ordering_level": lane,
                "rectification_due": due,
            }
        return {"decision": "approve"}


def run(spec, subprocess_specs: dict, path: str) -> TrialRun:
    """Run a parsed diagram along a path until it ends, stops or loops too long."""
    answers = _Answers(path)
    result = TrialRun(path)
    workflow = None
    try:
        with step_effects.collecting():
            workflow = engine.new_workflow(spec, subprocess_specs, sample_start_data())
            _answer_until_done(workflow, answers, result)
    except EngineError as error:
        result.error = error.message
    if workflow is None:
        return result

    result.finished = workflow.completed
    outcome = workflow.data.get("outcome")
    result.outcome = outcome if isinstance(outcome, str) else None
    result.waiting_ids = [
        t.task_spec.bpmn_id for t in engine.ready_user_tasks(workflow)
    ]
    result.completed_ids = _completed(workflow)
    return result


def _answer_until_done(workflow, answers: _Answers, result: TrialRun) -> None:
    for _ in range(MAX_STEPS):
        ready = engine.ready_user_tasks(workflow)
        if not ready:
            return
        task = ready[0]
        view = engine.describe(workflow, task)
        answer = answers.for_form(view.form_key or "", view.lane or "")
        result.steps.append(
            TrialStep(
                view.bpmn_id, view.title, view.lane or "", view.form_key or "", answer
            )
        )
        engine.complete(workflow, task, answer)
    raise EngineError(
        f"the run answered {MAX_STEPS} tasks without reaching an end; "
        "check the diagram for a loop that never ends"
    )


def _completed(workflow) -> list[str]:
    """Return the ids of the diagram elements the run went through."""
    seen: dict[str, None] = {}
    for task in workflow.get_tasks():
        if task.state == SpiffTaskState.COMPLETED and task.task_spec.bpmn_id:
            seen.setdefault(task.task_spec.bpmn_id, None)
    return list(seen)
