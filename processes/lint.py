"""Checks of a diagram's XML tree that go beyond what the engine's parser checks.

Two kinds: the scripts, conditions and timer expressions the engine will run, which
must compile in the restricted script environment; and the platform's own rules.
The engine runs many diagrams the platform cannot serve: user tasks outside every
lane, forms nobody registered, gateways that may leave no way out, services the
platform does not call. Each finding names the element at fault.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    TimerEventDefinition as SpiffTimerEventDefinition,
)

from processes.scripting import SERVICE_TASKS_UNSUPPORTED, check_script

KNOWN_LANES = frozenset({"unit", "unit_leader", "county", "city", "province", "office"})
KNOWN_FORM_KEYS = frozenset(
    {
        "unit_submission",
        "leader_signoff",
        "review",
        "rectification",
        "verification",
        "title_propose",
        "title_approve",
        "title_objections",
        "public_triage",
        "public_verify",
        "public_rectify",
        "public_check",
        "public_feedback",
    }
)

MODEL_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NSMAP = {"bpmn": MODEL_NS, "spiffworkflow": SPIFF_NS}

SCOPE_TAGS = frozenset({"process", "subProcess", "transaction", "adHocSubProcess"})
FLOW_NODE_TAGS = frozenset(
    {
        "task",
        "userTask",
        "manualTask",
        "scriptTask",
        "serviceTask",
        "sendTask",
        "receiveTask",
        "businessRuleTask",
        "callActivity",
        "subProcess",
        "transaction",
        "adHocSubProcess",
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "exclusiveGateway",
        "inclusiveGateway",
        "parallelGateway",
        "eventBasedGateway",
        "complexGateway",
    }
)
CONDITIONAL_GATEWAY_TAGS = frozenset({"exclusiveGateway", "inclusiveGateway"})
UNGUARDED_FLOW = (
    "the flow has no condition; give it a condition or make it the gateway's "
    "default flow"
)

MESSAGES_UNSUPPORTED = (
    "process instances on this platform do not exchange messages; use a signal, "
    "a timer or a user task instead"
)
UNSUPPORTED_ELEMENTS = {
    "task": (
        "a task without a type waits for a person but has no form: make it a user "
        "task with a form, or a script task"
    ),
    "serviceTask": SERVICE_TASKS_UNSUPPORTED,
    "manualTask": (
        "manual tasks are not supported: use a user task with a form, so the work "
        "is recorded and appears in an inbox"
    ),
    "sendTask": f"send tasks are not supported: {MESSAGES_UNSUPPORTED}",
    "receiveTask": f"receive tasks are not supported: {MESSAGES_UNSUPPORTED}",
    "businessRuleTask": (
        "business rule tasks are not supported: decision tables (DMN) are not "
        "deployed with diagrams; decide with gateway conditions instead"
    ),
}


class Finding(NamedTuple):
    """One rule a diagram element breaks, and the line if not the element's own."""

    element: etree._Element
    message: str
    line: int | None = None


@dataclass(frozen=True)
class LintRules:
    """What the platform knows, against which a diagram is checked."""

    form_keys: Collection[str] = ()
    lanes: Collection[str] = ()
    task_lanes: Mapping[str, str | None] | None = None
    known_process_ids: Collection[str] = ()


def local_name(element: etree._Element) -> str:
    """Return an element's tag without its namespace ('' for comments)."""
    if not isinstance(element.tag, str):
        return ""
    return etree.QName(element).localname


def describe(element: etree._Element) -> str:
    """Return how a message names an element: its id and, if any, its name."""
    name = element.get("name")
    ident = element.get("id") or local_name(element)
    return f'"{ident}" ({name})' if name else f'"{ident}"'


def executable_processes(root: etree._Element) -> list[etree._Element]:
    """Return the processes the engine runs: those not marked non-executable."""
    processes = root.xpath(".//bpmn:process", namespaces=NSMAP)
    return [p for p in processes if p.get("isExecutable", "true") == "true"]


def lint_diagram(root: etree._Element, rules: LintRules) -> list[Finding]:
    """Return every platform rule the executable processes of a diagram break."""
    findings: list[Finding] = []
    for process in executable_processes(root):
        for scope in _scopes(process):
            findings.extend(_check_scope(scope))

        findings.extend(_check_elements(process, rules))
    return findings


def _scopes(process: etree._Element) -> Iterator[etree._Element]:
    yield process
    for element in process.iterdescendants():
        if local_name(element) in SCOPE_TAGS:
            yield element


def _children(scope: etree._Element, tags: Collection[str]) -> list[etree._Element]:
    return [child for child in scope if local_name(child) in tags]


def _check_scope(scope: etree._Element) -> list[Finding]:
    findings = _check_blank_starts(scope)
    findings += _check_duplicate_flows(scope)
    findings += _check_gateway_conditions(scope)
    findings += _check_reachability(scope)
    return findings


def _has_trigger(event: etree._Element) -> bool:
    return any(local_name(child).endswith("EventDefinition") for child in event)


def _check_blank_starts(scope: etree._Element) -> list[Finding]:
    starts = _children(scope, {"startEvent"})
    blank = [start for start in starts if not _has_trigger(start)]
    if len(blank) < 2:
        return []

    message = (
        "a process may have only one start event without a trigger; "
        f"{describe(blank[0])} is one already"
    )
    return [Finding(start, message) for start in blank[1:]]


def _check_duplicate_flows(scope: etree._Element) -> list[Finding]:
    findings = []
    seen: dict[tuple[str | None, str | None, str], etree._Element] = {}
    for flow in _children(scope, {"sequenceFlow"}):
        key = (flow.get("sourceRef"), flow.get("targetRef"), _condition_text(flow))
        if key in seen:
            message = (
                f"duplicates flow {describe(seen[key])}: both lead from "
                f'"{key[0]}" to "{key[1]}"'
            )
            findings.append(Finding(flow, message))
        seen.setdefault(key, flow)
    return findings


def _condition_text(flow: etree._Element) -> str:
    condition = flow.find(f"{{{MODEL_NS}}}conditionExpression")
    return (condition.text or "").strip() if condition is not None else ""


def _check_gateway_conditions(scope: etree._Element) -> list[Finding]:
    flows_by_source: dict[str | None, list[etree._Element]] = {}
    for flow in _children(scope, {"sequenceFlow"}):
        flows_by_source.setdefault(flow.get("sourceRef"), []).append(flow)

    findings = []
    for gateway in _children(scope, CONDITIONAL_GATEWAY_TAGS):
        outgoing = flows_by_source.get(gateway.get("id"), [])
        if len(outgoing) < 2:
            continue
        default = gateway.get("default")
        for flow in outgoing:
            if flow.get("id") != default and not _condition_text(flow):
                message = f"leaves gateway {describe(gateway)}: {UNGUARDED_FLOW}"
                findings.append(Finding(flow, message))
    return findings


def _is_root(node: etree._Element, scope_tag: str) -> bool:
    """Say whether a node starts a path of its own rather than being flowed to."""
    tag = local_name(node)
    if scope_tag == "adHocSubProcess":
        return True
    if tag == "startEvent" or node.get("isForCompensation") == "true":
        return True
    if tag == "subProcess" and node.get("triggeredByEvent") == "true":
        return True
    link = node.find(f"{{{MODEL_NS}}}linkEventDefinition")
    return tag == "intermediateCatchEvent" and link is not None


def _check_reachability(scope: etree._Element) -> list[Finding]:
    nodes = {n.get("id"): n for n in _children(scope, FLOW_NODE_TAGS) if n.get("id")}
    scope_tag = local_name(scope)
    if not any(_is_root(node, scope_tag) for node in nodes.values()):
        return []

    reached = _reachable(scope, nodes, scope_tag)
    findings = []
    for node_id, node in nodes.items():
        attached = node.get("attachedToRef")
        if node_id in reached or (attached and attached not in reached):
            continue
        findings.append(Finding(node, "is not reachable from any start event"))

    has_end = any(local_name(nodes[n]) == "endEvent" for n in reached)
    if scope_tag != "adHocSubProcess" and not has_end:
        message = (
            "no end event is reachable from the start event; add an end event so "
            "instances can finish"
        )
        findings.append(Finding(scope, message))
    return findings


def _reachable(
    scope: etree._Element, nodes: Mapping[str, etree._Element], scope_tag: str
) -> set[str]:
    successors: dict[str, list[str]] = {}
    for flow in _children(scope, {"sequenceFlow"}):
        successors.setdefault(flow.get("sourceRef"), []).append(flow.get("targetRef"))
    for node_id, node in nodes.items():
        attached = node.get("attachedToRef")
        if local_name(node) == "boundaryEvent" and attached:
            successors.setdefault(attached, []).append(node_id)

    pending = [n for n, node in nodes.items() if _is_root(node, scope_tag)]
    reached: set[str] = set()
    while pending:
        node_id = pending.pop()
        if node_id in reached or node_id not in nodes:
            continue
        reached.add(node_id)
        pending.extend(successors.get(node_id, []))
    return reached


def _check_elements(process: etree._Element, rules: LintRules) -> list[Finding]:
    findings = []
    for element in process.iterdescendants():
        tag = local_name(element)
        if tag in UNSUPPORTED_ELEMENTS:
            findings.append(Finding(element, UNSUPPORTED_ELEMENTS[tag]))
        elif tag == "messageEventDefinition":
            event = element.getparent()
            message = f"message events are not supported: {MESSAGES_UNSUPPORTED}"
            findings.append(Finding(event, message))
        elif tag == "callActivity":
            findings.extend(_check_call_activity(element, rules))
        elif tag == "userTask":
            findings.extend(_check_user_task(element, rules))
    return findings


def _check_call_activity(activity: etree._Element, rules: LintRules) -> list[Finding]:
    called = activity.get("calledElement")
    if not called:
        return [Finding(activity, "the call activity names no process to call")]
    if called in rules.known_process_ids:
        return []
    message = (
        f'calls process "{called}", which is neither in this diagram nor in the '
        "diagrams deployed with it"
    )
    return [Finding(activity, message)]


def task_properties(task: etree._Element) -> dict[str, str]:
    """Return the spiffworkflow:properties of a task as a name-to-value dict."""
    path = "./bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property"
    found = task.xpath(path, namespaces=NSMAP)
    return {p.get("name"): p.get("value", "") for p in found if p.get("name")}


def _check_user_task(task: etree._Element, rules: LintRules) -> list[Finding]:
    properties = task_properties(task)
    findings = []
    if rules.lanes:
        findings.extend(_check_lane(task, rules))
    if rules.form_keys:
        findings.extend(_check_form(task, properties.get("form"), rules.form_keys))
    if "due" in properties:
        for problem in check_script(properties["due"], mode="eval"):
            message = f'due expression "{properties["due"]}": {problem.message}'
            findings.append(Finding(task, message))
    return findings


def _lane_of(task: etree._Element, rules: LintRules) -> str | None:
    task_id = task.get("id")
    if rules.task_lanes is not None and task_id in rules.task_lanes:
        return rules.task_lanes[task_id]
    path = "//bpmn:lane[bpmn:flowNodeRef[normalize-space() = $task_id]]"
    lanes = task.xpath(path, namespaces=NSMAP, task_id=task_id or "")
    return lanes[0].get("name") if lanes else None


def _check_lane(task: etree._Element, rules: LintRules) -> list[Finding]:
    lane = _lane_of(task, rules)
    known = ", ".join(sorted(rules.lanes))
    if not lane:
        message = f"the user task is in no lane; put it in one of the lanes: {known}"
        return [Finding(task, message)]
    if lane not in rules.lanes:
        message = f'lane "{lane}" is not a lane the platform knows; use one of: {known}'
        return [Finding(task, message)]
    return []


def _check_form(
    task: etree._Element, form: str | None, form_keys: Collection[str]
) -> list[Finding]:
    known = ", ".join(sorted(form_keys))
    if not form:
        message = (
            'the user task has no "form" property; add a spiffworkflow property '
            f'named "form" with one of: {known}'
        )
        return [Finding(task, message)]
    if form not in form_keys:
        message = f'form "{form}" is not a form the platform knows; use one of: {known}'
        return [Finding(task, message)]
    return []


# Scripts and expressions the engine will run.

_ISO_DURATION = re.compile(r"^R?\d*/?P[0-9TYMWDHS.,]+$", re.IGNORECASE)
_ISO_CYCLE = re.compile(r"^R\d*/", re.IGNORECASE)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
UNQUOTED_TIMER = (
    'timer text is a Python expression: quote durations and dates, e.g. "P7D"'
)
_TIMER_KINDS = {
    "timeDate": ("date-time", SpiffTimerEventDefinition.parse_time_or_duration),
    "timeDuration": ("duration", SpiffTimerEventDefinition.parse_iso_duration),
    "timeCycle": ("cycle", SpiffTimerEventDefinition.parse_iso_recurring_interval),
}
_EXPRESSION_LABELS = {
    "loopCardinality": "loop cardinality",
    "completionCondition": "completion condition",
}
_NOT_OWNERS = frozenset(
    {
        "timerEventDefinition",
        "conditionalEventDefinition",
        "multiInstanceLoopCharacteristics",
        "conditionExpression",
    }
)


def check_diagram_scripts(
    root: etree._Element, *, every_process: bool = False
) -> list[Finding]:
    """Return the scripts, conditions and timers that would not compile or run."""
    if every_process:
        processes = root.xpath(".//bpmn:process", namespaces=NSMAP)
    else:
        processes = executable_processes(root)

    findings = []
    for process in processes:
        for element in process.iter(etree.Element):
            qname = etree.QName(element)
            check = _SCRIPT_CHECKS.get((qname.namespace, qname.localname))
            if check is not None:
                findings.extend(check(element))
    return findings


def _owner(element: etree._Element) -> etree._Element:
    """Return the nearest element with an id: the task, event or flow at fault."""
    for candidate in (element, *element.iterancestors()):
        if candidate.get("id") and local_name(candidate) not in _NOT_OWNERS:
            return candidate
    return element


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def _compile_findings(
    label: str, holder: etree._Element, text: str | None, mode: str
) -> list[Finding]:
    """Check one script (exec) or expression (eval) found in `holder`'s text."""
    if text is None or not text.strip():
        return [Finding(_owner(holder), f"the {label} is empty", holder.sourceline)]

    findings = []
    for problem in check_script(text, mode=mode):
        line = holder.sourceline
        if mode == "exec" and problem.line and line:
            line += problem.line - 1
        subject = label if mode == "exec" else f"{label} {_snippet(text)!r}"
        findings.append(Finding(_owner(holder), f"{subject}: {problem.message}", line))
    return findings


def _check_script_task(task: etree._Element) -> list[Finding]:
    script_format = task.get("scriptFormat") or "python"
    if "python" not in script_format.lower():
        message = (
            f'script format "{script_format}" is not supported: '
            "diagram scripts are Python"
        )
        return [Finding(task, message)]

    script = task.find(f"{{{MODEL_NS}}}script")
    if script is None:
        return [Finding(task, "the script is empty")]
    return _compile_findings("script", script, script.text, "exec")


def _check_timer(timer: etree._Element) -> list[Finding]:
    text = (timer.text or "").strip()
    if _ISO_DURATION.match(text) or _ISO_CYCLE.match(text) or _ISO_DATE.match(text):
        message = f"timer {_snippet(text)!r}: {UNQUOTED_TIMER}"
        return [Finding(_owner(timer), message, timer.sourceline)]

    label = f"timer ({local_name(timer)})"
    findings = _compile_findings(label, timer, text, "eval")
    return findings or _check_timer_value(timer, text)


def _check_timer_value(timer: etree._Element, text: str) -> list[Finding]:
    """Read a quoted timer value the way the engine will when the timer starts."""
    body = ast.parse(text, mode="eval").body
    if not (isinstance(body, ast.Constant) and isinstance(body.value, str)):
        return []

    kind, read = _TIMER_KINDS[local_name(timer)]
    try:
        value = read(body.value)
        if kind == "date-time" and not hasattr(value, "tzinfo"):
            raise ValueError(body.value)
    except Exception:  # every way the engine's reader fails means the same
        message = f"timer {body.value!r} is not a valid ISO 8601 {kind}"
        return [Finding(_owner(timer), message, timer.sourceline)]
    return []


def _check_flow_condition(expression: etree._Element) -> list[Finding]:
    if local_name(expression.getparent()) != "sequenceFlow":
        return []
    if not (expression.text or "").strip():
        return []
    return _compile_findings("condition", expression, expression.text, "eval")


def _check_event_condition(condition: etree._Element) -> list[Finding]:
    if local_name(condition.getparent()) != "conditionalEventDefinition":
        return []
    return _compile_findings("event condition", condition, condition.text, "eval")


def _check_loop_expression(element: etree._Element) -> list[Finding]:
    label = _EXPRESSION_LABELS[local_name(element)]
    return _compile_findings(label, element, element.text, "eval")


def _check_spiff_script(element: etree._Element) -> list[Finding]:
    label = "pre-script" if local_name(element) == "preScript" else "post-script"
    return _compile_findings(label, element, element.text, "exec")


_SCRIPT_CHECKS: dict[tuple[str, str], Callable[[etree._Element], list[Finding]]] = {
    (MODEL_NS, "scriptTask"): _check_script_task,
    (MODEL_NS, "conditionExpression"): _check_flow_condition,
    (MODEL_NS, "condition"): _check_event_condition,
    (MODEL_NS, "timeDate"): _check_timer,
    (MODEL_NS, "timeDuration"): _check_timer,
    (MODEL_NS, "timeCycle"): _check_timer,
    (MODEL_NS, "loopCardinality"): _check_loop_expression,
    (MODEL_NS, "completionCondition"): _check_loop_expression,
    (SPIFF_NS, "preScript"): _check_spiff_script,
    (SPIFF_NS, "postScript"): _check_spiff_script,
}
