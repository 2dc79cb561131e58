"""Diagram validation, stage by stage, on small inline diagrams."""

from __future__ import annotations

import pytest

from processes.errors import InvalidDiagram
from processes.lint import KNOWN_FORM_KEYS, KNOWN_LANES
from processes.validation import Problem, parse_diagram, validate_diagram

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs" targetNamespace="http://example.org/wenming">
"""


def diagram(body: str, *, process_id: str = "review", executable: bool = True) -> str:
    """Wrap flow elements in a process inside BPMN definitions."""
    flag = "true" if executable else "false"
    process = f'<bpmn:process id="{process_id}" name="Review" isExecutable="{flag}">'
    return f"{HEAD}  {process}\n{body}\n  </bpmn:process>\n</bpmn:definitions>\n"


def line_of(xml: str, needle: str) -> int:
    """Return the 1-based line on which `needle` first appears."""
    return xml[: xml.index(needle)].count("\n") + 1


def form(key: str, *extra: tuple[str, str]) -> str:
    """Return the extension elements naming a user task's form (and more)."""
    pairs = [("form", key), *extra]
    props = "".join(
        f'<spiffworkflow:property name="{n}" value="{v}" />' for n, v in pairs
    )
    return (
        "<bpmn:extensionElements><spiffworkflow:properties>"
        f"{props}</spiffworkflow:properties></bpmn:extensionElements>"
    )


def lanes(*pairs: tuple[str, str]) -> str:
    """Return a lane set putting each (lane name, node id) pair in its lane."""
    body = "".join(
        f'<bpmn:lane id="lane_{name}" name="{name}">'
        f"<bpmn:flowNodeRef>{node}</bpmn:flowNodeRef></bpmn:lane>"
        for name, node in pairs
    )
    return f'    <bpmn:laneSet id="lanes">{body}</bpmn:laneSet>'


def review_diagram(
    lane: str = "county", form_key: str = "review", due: str = ""
) -> str:
    """Return a valid one-review diagram, as the platform would deploy it."""
    extra = (("due", due),) if due else ()
    return diagram(
        f"""{lanes((lane, "review_county"))}
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review_county" />
    <bpmn:userTask id="review_county" name="县级审核">{form(form_key, *extra)}
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="review_county" targetRef="done" />
    <bpmn:endEvent id="done" />"""
    )


def check(xml: str | bytes, **options: object):
    """Validate a diagram given as text, the way the platform does by default."""
    data = xml.encode() if isinstance(xml, str) else xml
    return validate_diagram(data, filename="review.bpmn", **options)


def platform_check(xml: str, **options: object):
    """Validate with the platform's lanes and form keys."""
    return check(xml, form_keys=KNOWN_FORM_KEYS, lanes=KNOWN_LANES, **options)


def only_problem(verdict, stage: str) -> Problem:
    """Return the single problem of a refused verdict, checking its stage."""
    assert not verdict.ok
    assert [p.stage for p in verdict.problems] == [stage], verdict.problems
    return verdict.problems[0]


# A valid diagram.


def test_valid_review_diagram_passes_platform_lint():
    """A diagram following every convention is accepted with its process id."""
    verdict = platform_check(review_diagram())

    assert verdict.ok, verdict.problems
    assert verdict.process_ids == ["review"]


def test_parse_diagram_returns_the_spec():
    """Parsing gives the engine spec of the main process with its name."""
    parsed = parse_diagram(
        review_diagram().encode(), form_keys=KNOWN_FORM_KEYS, lanes=KNOWN_LANES
    )

    assert (parsed.process_id, parsed.name) == ("review", "Review")
    assert "review_county" in parsed.spec.task_specs
    assert parsed.called_process_ids == []


def test_parse_diagram_raises_with_every_problem():
    """A refused diagram raises InvalidDiagram listing its problems."""
    with pytest.raises(InvalidDiagram) as caught:
        parse_diagram(review_diagram(form_key="essay").encode(), form_keys=["review"])

    assert caught.value.problems[0].stage == "lint"
    assert "essay" in caught.value.message
    assert caught.value.to_dict()["problems"]


def test_parse_diagram_refuses_an_unknown_process_id():
    """Asking for a process the diagram lacks is refused, listing the ones it has."""
    with pytest.raises(InvalidDiagram, match="it has: review"):
        parse_diagram(review_diagram().encode(), process_id="missing")


def test_problem_text_names_line_element_and_name():
    """A problem reads "line N, id (name): message"."""
    problem = Problem("lint", "is not reachable", "review_city", "市级审核", 42)

    assert str(problem) == "line 42, review_city (市级审核): is not reachable"
    assert str(Problem("xml", "the file is empty")) == "the file is empty"


# Stage 1: XML.


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"  \n ", "the file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG image"),
        (b"just some notes, not a diagram", "not XML"),
        ("<a>café</a>".encode("latin-1"), "encoding"),
    ],
)
def test_unreadable_input_gives_an_xml_problem(data, message):
    """Empty, binary, wrongly encoded and non-XML input is refused clearly."""
    problem = check(data).problems[0]

    assert problem.stage == "xml"
    assert message in problem.message


def test_malformed_xml_names_the_line():
    """A tag left open is reported on its line."""
    xml = diagram('    <bpmn:startEvent id="start">\n')
    verdict = check(xml)

    assert verdict.problems[0].stage == "xml"
    assert verdict.problems[0].line is not None


@pytest.mark.parametrize(
    "use",
    [
        "<bpmn:startEvent id='start' name='&x;' />",
        "<bpmn:documentation>&x;</bpmn:documentation>",
    ],
)
def test_external_entity_document_is_refused(use):
    """A DOCTYPE declaring an external entity is refused and never resolved."""
    doctype = '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    xml = diagram(use).replace("?>\n", f"?>\n{doctype}\n", 1)
    verdict = check(xml)

    assert verdict.problems[0].stage == "xml"
    assert "document type declarations" in verdict.problems[0].message
    assert "root:" not in str(verdict.problems)


def test_text_input_with_an_encoding_declaration_is_read():
    """A diagram passed as text is read even if it declares an encoding."""
    verdict = validate_diagram(review_diagram(), lint=False)

    assert verdict.ok, verdict.problems


# Stage 2: schema.


def test_root_outside_the_bpmn_namespace_is_refused():
    """XML that is not BPMN 2.0 is refused at the schema stage."""
    problem = only_problem(check('<definitions xmlns="http://not-bpmn" />'), "schema")

    assert "not a BPMN 2.0 diagram" in problem.message


def test_definitions_without_namespace_are_refused_with_a_hint():
    """A definitions element without namespace gets a hint about xmlns."""
    problem = only_problem(check("<definitions id='d' />"), "schema")

    assert "xmlns:bpmn" in problem.message


def test_schema_violation_names_element_and_line():
    """An element the schema does not allow is reported on its line."""
    xml = diagram(
        '    <bpmn:startEvent id="start" />\n    <bpmn:unknownThing id="odd" />'
    )
    problem = check(xml).problems[0]

    assert problem.stage == "schema"
    assert problem.line == line_of(xml, "unknownThing")
    assert problem.element_id == "odd"
    assert "bpmn:unknownThing" in problem.message


# Stage 3: engine.


def test_process_without_start_event_is_refused_by_the_engine():
    """A process with no start event names the process."""
    xml = diagram('    <bpmn:endEvent id="done" />')
    problem = only_problem(check(xml), "engine")

    assert problem.element_id == "review"
    assert problem.line == line_of(xml, 'id="review"')
    assert "No start event" in problem.message


def test_diagram_without_executable_process_is_refused():
    """A modeller export with isExecutable=false has nothing to run."""
    xml = diagram('    <bpmn:startEvent id="start" />', executable=False)
    problem = only_problem(check(xml), "engine")

    assert "no executable process" in problem.message


def test_call_activity_to_a_missing_process_is_refused():
    """A call activity naming an unknown process fails in the engine stage."""
    xml = diagram(
        """    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="rectify" />
    <bpmn:callActivity id="rectify" name="整改" calledElement="rectification" />
    <bpmn:sequenceFlow id="f2" sourceRef="rectify" targetRef="done" />
    <bpmn:endEvent id="done" />"""
    )
    problem = check(xml).problems[0]

    assert problem.stage == "engine"
    assert "rectification" in problem.message


def test_service_task_without_operator_is_refused_as_unsupported():
    """A Camunda-style service task is reported as unsupported."""
    xml = diagram(
        """    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fetch" />
    <bpmn:serviceTask id="fetch" name="Fetch" />
    <bpmn:sequenceFlow id="f2" sourceRef="fetch" targetRef="done" />
    <bpmn:endEvent id="done" />"""
    )
    problem = only_problem(check(xml), "engine")

    assert problem.element_id == "fetch"
    assert problem.line == line_of(xml, 'id="fetch"')
    assert problem.message == "service tasks are not supported"


def test_undefined_signal_reference_is_named():
    """An event pointing at a signal the diagram lacks is reported, not a crash."""
    xml = diagram(
        """    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait" />
    <bpmn:intermediateCatchEvent id="wait" name="Wait">
      <bpmn:signalEventDefinition id="sig_def" signalRef="nowhere" />
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="done" />
    <bpmn:endEvent id="done" />"""
    )
    problem = only_problem(check(xml), "engine")

    assert problem.element_id == "wait"
    assert '"nowhere"' in problem.message


# Stage 4: scripts.


def script_diagram(script: str, condition: str = "approved") -> str:
    """Return a diagram with one script task and one conditional gateway."""
    return diagram(
        f"""    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="prepare" />
    <bpmn:scriptTask id="prepare" name="准备">
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="prepare" targetRef="decide" />
    <bpmn:exclusiveGateway id="decide" default="no" />
    <bpmn:sequenceFlow id="yes" name="通过" sourceRef="decide" targetRef="done">
      <bpmn:conditionExpression>{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="no" sourceRef="decide" targetRef="done" />
    <bpmn:endEvent id="done" />"""
    )


def test_import_in_a_script_names_task_and_line():
    """`import os` on the script's second line is reported on that XML line."""
    xml = script_diagram("round_no = 1\nimport os")
    problem = only_problem(check(xml), "script")

    assert (problem.element_id, problem.element_name) == ("prepare", "准备")
    assert problem.line == line_of(xml, "import os")
    assert "imports are not allowed" in problem.message


def test_condition_syntax_error_names_the_flow():
    """A Camunda `${...}` condition is refused on its sequence flow."""
    xml = script_diagram("x = 1", condition="${approved}")
    problem = only_problem(check(xml), "script")

    assert (problem.element_id, problem.element_name) == ("yes", "通过")
    assert "syntax error" in problem.message


def test_every_script_problem_of_the_stage_is_reported():
    """A bad script and a bad condition are both reported."""
    verdict = check(script_diagram("_secret = 1", condition="a ="))

    assert [p.element_id for p in verdict.problems] == ["prepare", "yes"]


def test_non_python_script_format_is_refused():
    """A Groovy script task is refused with the format named."""
    xml = script_diagram("x = 1").replace(
        '<bpmn:scriptTask id="prepare"',
        '<bpmn:scriptTask scriptFormat="groovy" id="prepare"',
    )
    problem = only_problem(check(xml), "script")

    assert 'format "groovy"' in problem.message


def test_empty_script_task_is_refused():
    """A script task with no script would fail at run time, so it is refused."""
    problem = only_problem(check(script_diagram("")), "script")

    assert problem.message == "the script is empty"


def test_pre_script_is_checked():
    """A spiffworkflow pre-script is compiled like a script task's script."""
    xml = review_diagram().replace(
        "<spiffworkflow:properties>",
        "<spiffworkflow:preScript>x = y.__dict__</spiffworkflow:preScript>"
        "<spiffworkflow:properties>",
    )
    problem = only_problem(check(xml), "script")

    assert problem.element_id == "review_county"
    assert problem.message.startswith("pre-script")


def timer_diagram(kind: str, text: str) -> str:
    """Return a diagram waiting on one timer of the given kind."""
    return diagram(
        f"""    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait" />
    <bpmn:intermediateCatchEvent id="wait" name="公示期">
      <bpmn:timerEventDefinition id="timer">
        <bpmn:{kind}>{text}</bpmn:{kind}>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="done" />
    <bpmn:endEvent id="done" />"""
    )


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("timeDuration", "P7D"),
        ("timeDuration", "PT4H"),
        ("timeCycle", "R3/P1D"),
        ("timeDate", "2030-01-31"),
    ],
)
def test_unquoted_timer_text_is_refused_with_a_hint(kind, text):
    """Timer text is Python: an unquoted duration or date gets the quoting hint."""
    xml = timer_diagram(kind, text)
    problem = only_problem(check(xml), "script")

    assert problem.element_id == "wait"
    assert problem.line == line_of(xml, text)
    assert 'quote durations and dates, e.g. "P7D"' in problem.message


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("timeDuration", '"P7D"'),
        ("timeDuration", "submission_due"),
        ("timeCycle", '"R3/P1D"'),
        ("timeDate", '"2030-01-31T08:00:00+08:00"'),
    ],
)
def test_quoted_and_variable_timers_are_accepted(kind, text):
    """Quoted ISO values and variable names are valid timer expressions."""
    verdict = check(timer_diagram(kind, text))

    assert verdict.ok, verdict.problems


def test_quoted_timer_that_is_not_iso_is_refused():
    """A quoted value the engine cannot read as a duration is refused."""
    problem = only_problem(check(timer_diagram("timeDuration", '"7 days"')), "script")

    assert "not a valid ISO 8601 duration" in problem.message


def test_empty_timer_is_refused():
    """A timer with no expression is reported."""
    problem = only_problem(check(timer_diagram("timeDuration", "")), "script")

    assert "empty" in problem.message


def test_companion_problems_name_their_file():
    """A script problem in a called diagram is reported with its file name."""
    called = script_diagram("import os").replace('id="review"', 'id="rectification"')
    caller = diagram(
        """    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="rectify" />
    <bpmn:callActivity id="rectify" calledElement="rectification" />
    <bpmn:sequenceFlow id="f2" sourceRef="rectify" targetRef="done" />
    <bpmn:endEvent id="done" />"""
    )
    verdict = check(caller, companions={"rectification.bpmn": called.encode()})
    problem = only_problem(verdict, "script")

    assert problem.message.startswith("in rectification.bpmn: ")
    assert problem.line == line_of(called, "import os")


def test_call_activity_with_its_companion_is_accepted():
    """A call activity whose process comes in a companion file parses and lints."""
    called = script_diagram("x = 1").replace('id="review"', 'id="rectification"')
    caller = diagram(
        """    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="rectify" />
    <bpmn:callActivity id="rectify" calledElement="rectification" />
    <bpmn:sequenceFlow id="f2" sourceRef="rectify" targetRef="done" />
    <bpmn:endEvent id="done" />"""
    )
    companions = {"rectification.bpmn": called.encode()}

    parsed = parse_diagram(caller.encode(), companions=companions)

    assert parsed.called_process_ids == ["rectification"]
    assert "rectification" in parsed.subprocess_specs


# Stage 5: lint.


def test_user_task_outside_every_lane_is_refused():
    """A user task in no lane names the valid lanes."""
    xml = review_diagram().replace(lanes(("county", "review_county")), "")
    problem = only_problem(platform_check(xml), "lint")

    assert problem.element_id == "review_county"
    assert problem.element_name == "县级审核"
    assert problem.line == line_of(xml, 'id="review_county"')
    assert "in no lane" in problem.message
    assert "unit_leader" in problem.message


def test_unknown_lane_is_refused_naming_it():
    """A lane the platform does not route is named with the valid ones."""
    problem = only_problem(platform_check(review_diagram(lane="reviewers")), "lint")

    assert 'lane "reviewers"' in problem.message
    assert "county" in problem.message


def test_user_task_without_form_is_refused():
    """A user task must name its form."""
    xml = review_diagram().replace(
        '<spiffworkflow:property name="form" value="review" />', ""
    )
    problem = only_problem(platform_check(xml), "lint")

    assert 'no "form" property' in problem.message
    assert "unit_submission" in problem.message


def test_unknown_form_key_is_refused():
    """A form key outside the registry is named."""
    problem = only_problem(platform_check(review_diagram(form_key="essay")), "lint")

    assert 'form "essay"' in problem.message


def test_lane_and_form_rules_are_skipped_without_known_sets():
    """With no lanes or form keys given, only structural lint runs."""
    verdict = check(review_diagram(lane="reviewers", form_key="essay"))

    assert verdict.ok, verdict.problems


def test_invalid_due_expression_is_refused():
    """A user task's due property must be a valid expression."""
    xml = review_diagram(due="add_duration(now(), P7D")
    problem = only_problem(platform_check(xml), "lint")

    assert problem.message.startswith('due expression "add_duration(now(), P7D"')


def test_valid_due_expression_is_accepted():
    """A due expression over instance data passes."""
    assert platform_check(review_diagram(due="submission_due")).ok


def gateway_diagram(pass_condition: str, *, default: str = "") -> str:
    """Return a diagram whose inclusive gateway leads to passing or failing."""
    default_attr = f' default="{default}"' if default else ""
    return diagram(
        f"""    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="decide" />
    <bpmn:inclusiveGateway id="decide" name="结果"{default_attr} />
    <bpmn:sequenceFlow id="pass" sourceRef="decide" targetRef="passed">
      <bpmn:conditionExpression>{pass_condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="fail" sourceRef="decide" targetRef="failed" />
    <bpmn:endEvent id="passed" />
    <bpmn:endEvent id="failed" />"""
    )


def test_gateway_flow_without_condition_or_default_is_refused():
    """A flow leaving a deciding gateway with no condition and no default fails."""
    xml = gateway_diagram("approved")
    problem = only_problem(check(xml), "engine")

    assert problem.element_id == "fail"
    assert problem.line == line_of(xml, 'id="fail"')
    assert "give it a condition or make it the gateway's default" in problem.message


def test_gateway_flow_with_a_blank_condition_is_refused():
    """A condition of only spaces counts as none, naming the gateway."""
    xml = gateway_diagram("  ", default="fail")
    problem = only_problem(check(xml), "lint")

    assert problem.element_id == "pass"
    assert '"decide" (结果)' in problem.message


def test_gateway_with_conditions_and_default_is_accepted():
    """A condition on one flow and the other as default passes."""
    assert check(gateway_diagram("approved", default="fail")).ok


def test_duplicate_sequence_flow_is_refused():
    """Two unconditional flows between the same nodes are reported."""
    xml = diagram(
        """    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="done" />
    <bpmn:sequenceFlow id="f2" sourceRef="start" targetRef="done" />
    <bpmn:endEvent id="done" />"""
    )
    problem = only_problem(check(xml), "lint")

    assert problem.element_id == "f2"
    assert 'duplicates flow "f1"' in problem.message


def test_unreachable_task_and_missing_end_event_are_refused():
    """A node no path reaches is named; so is a process that cannot finish."""
    xml = diagram(
        """    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="prepare" />
    <bpmn:scriptTask id="prepare"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="orphan" name="孤立"><bpmn:script>y = 1</bpmn:script>
    </bpmn:scriptTask>"""
    )
    verdict = check(xml)

    messages = {p.element_id: p.message for p in verdict.problems}
    assert messages["orphan"] == "is not reachable from any start event"
    assert "no end event is reachable" in messages["review"]
    assert {p.stage for p in verdict.problems} == {"lint"}


@pytest.mark.parametrize(
    ("element", "message"),
    [
        (
            '<bpmn:serviceTask id="step"><bpmn:extensionElements>'
            '<spiffworkflow:serviceTaskOperator id="http/Get">'
            "<spiffworkflow:parameters /></spiffworkflow:serviceTaskOperator>"
            "</bpmn:extensionElements></bpmn:serviceTask>",
            "service tasks are not supported",
        ),
        ('<bpmn:manualTask id="step" />', "manual tasks are not supported"),
        ('<bpmn:task id="step" />', "a task without a type"),
        ('<bpmn:sendTask id="step" />', "send tasks are not supported"),
    ],
)
def test_tasks_the_platform_cannot_run_are_refused(element, message):
    """Service, manual, untyped and send tasks are refused with the reason."""
    xml = diagram(
        f"""    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="step" />
    {element}
    <bpmn:sequenceFlow id="f2" sourceRef="step" targetRef="done" />
    <bpmn:endEvent id="done" />"""
    )
    problem = only_problem(check(xml), "lint")

    assert problem.element_id == "step"
    assert message in problem.message


def test_lint_can_be_switched_off():
    """With lint off, a diagram the engine accepts passes despite lint problems."""
    xml = review_diagram(lane="reviewers")

    assert not platform_check(xml).ok
    assert platform_check(xml, lint=False).ok


def test_broken_companion_is_named_in_xml_problems():
    """A companion that is not XML is refused with its file name."""
    verdict = check(review_diagram(), companions={"rectification.bpmn": b"notes"})
    problem = only_problem(verdict, "xml")

    assert problem.message.startswith("in rectification.bpmn: the file is not XML")


def test_a_failing_check_still_gives_a_verdict(monkeypatch):
    """If a check itself fails, the diagram is refused with a message, not a crash."""

    def broken_lint(root, rules):
        raise RuntimeError("lint exploded")

    monkeypatch.setattr("processes.validation.lint_diagram", broken_lint)
    problem = only_problem(check(review_diagram()), "engine")

    assert "could not be checked (RuntimeError: lint exploded)" in problem.message
