"""The restricted environment diagram scripts and conditions run in."""

from __future__ import annotations

import re

import pytest
from SpiffWorkflow.bpmn.exceptions import (
    WorkflowTaskException as SpiffWorkflowTaskException,
)
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow as SpiffWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from processes.scripting import (
    RestrictedEnvironment,
    ScriptProblem,
    ScriptRefused,
    check_script,
    make_script_engine,
)


def notify(lane: str, kind: str) -> str:
    """Stand in for a platform function diagrams call."""
    return f"{lane}:{kind}"


def environment() -> RestrictedEnvironment:
    """Return an environment exposing one function, as the platform does."""
    return RestrictedEnvironment({"notify": notify})


def run(script: str, **data: object) -> dict:
    """Run a script over the given task data and return the data afterwards."""
    environment().execute(script, data)
    return data


def test_arithmetic_writes_new_variables_into_task_data():
    """A script computing a score stores it in the task data."""
    data = run("total = base + bonus * 2\nlabel = 'ok'", base=3, bonus=4)

    assert data == {"base": 3, "bonus": 4, "total": 11, "label": "ok"}


def test_augmented_assignment_counts_the_round():
    """`round_no += 1` increments the rectification round."""
    assert run("round_no += 1", round_no=1)["round_no"] == 2


def test_item_write_on_a_dict_in_task_data():
    """A script may set a key on a dict the task data holds."""
    data = run("decision['city'] = 'approved'", decision={"county": "approved"})

    assert data["decision"] == {"county": "approved", "city": "approved"}


def test_membership_test_in_a_condition():
    """A condition `'city' in review_levels` reads a list in task data."""
    env = environment()

    assert env.evaluate("'city' in review_levels", {"review_levels": ["city"]})
    assert not env.evaluate("'city' in review_levels", {"review_levels": []})


def test_string_methods_and_allowed_builtins_work():
    """Scripts may use string methods and the allowed builtins."""
    script = "code = name.upper()\nbest = max(scores)\nlevels = sorted(set(seen))"
    data = run(script, name="abc", scores=[1, 5, 3], seen=["b", "a", "b"])

    assert (data["code"], data["best"], data["levels"]) == ("ABC", 5, ["a", "b"])


def test_loops_unpacking_and_comprehensions_work():
    """A loop with tuple unpacking and a comprehension run under the guards."""
    script = (
        "pairs = []\n"
        "for index, level in enumerate(levels):\n"
        "    pairs.append([index, level])\n"
        "doubled = [n * 2 for n in range(3)]"
    )
    data = run(script, levels=["county", "city"])

    assert data["pairs"] == [[0, "county"], [1, "city"]]
    assert data["doubled"] == [0, 2, 4]


def test_exposed_function_is_callable_but_never_stored():
    """A diagram calls an exposed function; neither it nor helpers reach the data."""
    script = "sent = notify('unit', 'reminder')\nalias = notify\ndef helper():\n  pass"
    data = run(script)

    assert data == {"sent": "unit:reminder"}


def test_deleted_variable_leaves_task_data():
    """`del` in a script removes the variable from the task data."""
    assert run("del scratch", scratch=1, keep=2) == {"keep": 2}


def test_a_set_may_be_used_but_not_stored():
    """Task data cannot hold a set, so storing one is refused with the name."""
    with pytest.raises(TypeError, match="'reviewers' holds a set"):
        run("reviewers = {'a', 'b'}")


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("import os", "imports are not allowed"),
        ("from os import environ", "imports are not allowed"),
        ("x = ().__class__.__base__.__subclasses__()", 'starting with "_"'),
        ("x = getattr(name, '__class__')", "getattr() is not available"),
        ("x = open('/etc/passwd').read()", "open() is not available"),
        ("x = __import__('os')", 'starting with "_"'),
        ("x = eval('1 + 1')", "eval() is not available"),
        ("exec('x = 1')", "exec() is not available"),
        ("x = globals()", "globals() is not available"),
        ("class Escape:\n    pass", "class definitions are not allowed"),
    ],
)
def test_dangerous_scripts_are_refused_before_they_run(script, message):
    """Imports, dunder walks and unsafe builtins never run."""
    with pytest.raises(ScriptRefused, match=re.escape(message)):
        run(script, name="abc")

    assert any(message in problem.message for problem in check_script(script))


def test_str_format_is_refused_at_run_time():
    """`str.format` can reach attributes, so calling it fails."""
    with pytest.raises(NotImplementedError, match="format"):
        run("x = template.format(1)", template="{0.__class__}")


def test_builtins_outside_the_allow_list_are_missing():
    """A name like `vars` that is neither data nor allowed is undefined."""
    with pytest.raises(NameError):
        environment().evaluate("dir", {})


def test_task_data_shadowing_a_function_is_refused():
    """A data field named like an exposed function would hide it: refused clearly."""
    with pytest.raises(ValueError, match="notify"):
        run("x = 1", notify="oops")
    with pytest.raises(ValueError, match="notify"):
        environment().evaluate("notify", {"notify": "oops"})


def test_data_keys_cannot_replace_the_guards():
    """A task-data key named like a guard does not replace it."""
    data = {"levels": ["county"], "_getitem_": lambda obj, index: "replaced"}

    assert environment().evaluate("levels[0]", data) == "county"


def test_check_script_reports_syntax_errors_with_their_line():
    """A syntax error names the line within the script."""
    problems = check_script("x = 1\ny = (2 +\n")

    assert problems and problems[0].line == 2
    assert "syntax error" in problems[0].message


def test_check_script_eval_mode_refuses_statements():
    """A condition must be an expression; an assignment is a syntax error."""
    assert check_script("approved == True", mode="eval") == []
    assert check_script("approved = True", mode="eval")[0].line == 1


def test_check_script_reports_every_refusal_with_its_line():
    """Each refused construct is reported on its own line."""
    problems = check_script("import os\nx = 1\n_hidden = 2\ny = x.__dict__")

    assert [p.line for p in problems] == [1, 3, 4]
    assert problems[0] == ScriptProblem(1, "imports are not allowed in diagram scripts")


def test_check_script_refuses_empty_text():
    """An empty script or expression is reported, not silently accepted."""
    assert check_script("   ", mode="eval")[0].message == "the expression is empty"
    assert check_script("\n")[0].message == "the script is empty"


def test_indented_scripts_from_xml_run():
    """Script text indented inside the XML element still runs."""
    assert run("\n    a = 1\n    b = a + 1\n")["b"] == 2


DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs" targetNamespace="http://example.org/wenming">
  <bpmn:process id="scoring" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="score" />
    <bpmn:scriptTask id="score" name="Compute score">
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="score" targetRef="done" />
    <bpmn:endEvent id="done" />
  </bpmn:process>
</bpmn:definitions>
"""


def workflow(script: str) -> SpiffWorkflow:
    """Return a one-script-task workflow run by the restricted engine."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(DIAGRAM.format(script=script).encode(), "scoring.bpmn")
    spec = parser.get_spec("scoring")
    engine = make_script_engine({"notify": notify})
    return SpiffWorkflow(spec, parser.get_subprocess_specs("scoring"), engine)


def test_engine_runs_a_script_task_with_exposed_functions():
    """A script task calls a platform function and the workflow completes."""
    wf = workflow("note = notify('county', 'review')\nscore = 90")

    wf.do_engine_steps()

    assert wf.is_completed()
    assert wf.last_task.data == {"note": "county:review", "score": 90}


def test_script_error_names_the_task_and_the_line():
    """A script failing at run time points at its task and line."""
    wf = workflow("a = 1\nb = a / 0\nc = 2")

    with pytest.raises(SpiffWorkflowTaskException) as caught:
        wf.do_engine_steps()

    assert caught.value.line_number == 2
    assert caught.value.error_line == "b = a / 0"
    assert caught.value.task_spec.bpmn_id == "score"


def test_refused_script_in_a_diagram_names_the_line():
    """A script that slipped past validation is still refused, with its line."""
    wf = workflow("a = 1\nimport os")

    with pytest.raises(SpiffWorkflowTaskException) as caught:
        wf.do_engine_steps()

    assert caught.value.line_number == 2
    assert "imports are not allowed" in str(caught.value)


SERVICE_DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs" targetNamespace="http://example.org/wenming">
  <bpmn:process id="calls_out" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fetch" />
    <bpmn:serviceTask id="fetch" name="Fetch holidays">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="http/GetRequest" />
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="fetch" targetRef="done" />
    <bpmn:endEvent id="done" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_service_task_fails_with_a_clear_error():
    """The engine refuses to call services, naming the task."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(SERVICE_DIAGRAM.encode(), "calls_out.bpmn")
    wf = SpiffWorkflow(parser.get_spec("calls_out"), {}, make_script_engine({}))

    with pytest.raises(SpiffWorkflowTaskException) as caught:
        wf.do_engine_steps()

    assert "service tasks are not supported" in str(caught.value)
    assert caught.value.task_spec.bpmn_id == "fetch"
