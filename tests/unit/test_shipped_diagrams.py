"""The shipped procedures: valid, routed by lanes, and drawn for any BPMN viewer."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from forms.registry import FORM_KEYS
from processes.lint import KNOWN_LANES
from processes.validation import validate_diagram

SHIPPED = Path(__file__).resolve().parent.parent.parent / "bpmn_diagrams"
NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
DIAGRAMS = ["creation_task.bpmn", "rectification.bpmn", "title_review.bpmn"]
DRAWN = (
    "startEvent",
    "endEvent",
    "userTask",
    "scriptTask",
    "callActivity",
    "exclusiveGateway",
    "parallelGateway",
    "boundaryEvent",
    "intermediateCatchEvent",
    "participant",
    "lane",
)


def tree(name: str):
    """Parse a shipped diagram."""
    return etree.parse(str(SHIPPED / name))


def test_shipped_folder_holds_only_diagrams():
    """bpmn_diagrams/ contains BPMN (or DMN) files and nothing else."""
    assert {p.suffix for p in SHIPPED.iterdir()} <= {".bpmn", ".dmn"}


def test_shipped_diagrams_pass_the_platform_validation():
    """Both files pass every stage, the caller with its called diagram."""
    rectification = (SHIPPED / "rectification.bpmn").read_bytes()
    verdict = validate_diagram(
        (SHIPPED / "creation_task.bpmn").read_bytes(),
        filename="creation_task.bpmn",
        companions={"rectification.bpmn": rectification},
        form_keys=FORM_KEYS,
        lanes=KNOWN_LANES,
    )
    assert verdict.ok, verdict.problems
    assert verdict.process_ids == ["creation_task"]


def test_title_review_diagram_passes_the_platform_validation():
    """The title review diagram stands alone and passes every stage."""
    verdict = validate_diagram(
        (SHIPPED / "title_review.bpmn").read_bytes(),
        filename="title_review.bpmn",
        form_keys=FORM_KEYS,
        lanes=KNOWN_LANES,
    )
    assert verdict.ok, verdict.problems
    assert verdict.process_ids == ["title_review"]


def test_title_review_lanes_propose_in_the_county_and_decide_in_the_city():
    """The county proposes; the city approves and weighs the objections."""
    root = tree("title_review.bpmn")
    lanes = {
        ref.text: lane.get("name")
        for lane in root.iterfind(".//bpmn:lane", NS)
        for ref in lane.iterfind("bpmn:flowNodeRef", NS)
    }
    forms = {
        task.get("id"): task.find(".//spiffworkflow:property[@name='form']", NS).get(
            "value"
        )
        for task in root.iterfind(".//bpmn:userTask", NS)
    }
    assert forms == {
        "propose_title": "title_propose",
        "approve_title": "title_approve",
        "decide_objections": "title_objections",
    }
    assert [lanes[task] for task in forms] == ["county", "city", "city"]


@pytest.mark.parametrize("name", DIAGRAMS)
def test_every_element_has_layout(name):
    """Every node, lane and pool has a shape; every flow an edge with waypoints."""
    root = tree(name)
    shapes = {s.get("bpmnElement"): s for s in root.iterfind(".//bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement"): e for e in root.iterfind(".//bpmndi:BPMNEdge", NS)}
    for kind in DRAWN:
        for element in root.iterfind(f".//bpmn:{kind}", NS):
            shape = shapes.get(element.get("id"))
            assert shape is not None, f"{kind} {element.get('id')} has no shape"
            assert (
                shape.find(
                    "dc:Bounds", {"dc": "http://www.omg.org/spec/DD/20100524/DC"}
                )
                is not None
            )
    for flow in root.iterfind(".//bpmn:sequenceFlow", NS):
        edge = edges.get(flow.get("id"))
        assert edge is not None, f"flow {flow.get('id')} has no edge"
        assert len(edge.findall("di:waypoint", NS)) >= 2


@pytest.mark.parametrize("name", DIAGRAMS)
def test_user_tasks_have_lane_form_due_and_both_timers(name):
    """Each user task names form and deadline and has reminder and escalation."""
    root = tree(name)
    boundary = root.findall(".//bpmn:boundaryEvent", NS)
    for task in root.iterfind(".//bpmn:userTask", NS):
        props = {
            p.get("name"): p.get("value")
            for p in task.iterfind(".//spiffworkflow:property", NS)
        }
        assert props.get("form") in FORM_KEYS, task.get("id")
        assert props.get("due"), task.get("id")
        timers = [
            b
            for b in boundary
            if b.get("attachedToRef") == task.get("id")
            and b.find("bpmn:timerEventDefinition", NS) is not None
        ]
        assert {b.get("id") for b in timers} == {
            f"{task.get('id')}_reminder",
            f"{task.get('id')}_escalation",
        }
        assert all(b.get("cancelActivity") == "false" for b in timers)
