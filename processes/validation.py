"""Validate a BPMN diagram before the platform stores or runs it.

Stages, in order; the first stage that finds problems stops the check and reports
all of its problems, each with the element id, name and line when known:

1. ``xml``: well-formed XML, read by a parser that resolves no entities, loads no
   DTD and opens no network connection; any DOCTYPE is refused.
2. ``schema``: a BPMN 2.0 ``definitions`` root, valid against the BPMN and
   spiffworkflow schemas bundled with SpiffWorkflow.
3. ``engine``: SpiffWorkflow parses every executable process.
4. ``script``: scripts, conditions and timer expressions compile in the restricted
   script environment.
5. ``lint``: the platform's own rules (lanes, forms, gateways, reachability).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import (
    ValidationException as SpiffValidationException,
)
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import (
    BpmnProcessSpec as SpiffBpmnProcessSpec,
)
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from processes.errors import InvalidDiagram
from processes.lint import (
    NSMAP,
    UNGUARDED_FLOW,
    LintRules,
    check_diagram_scripts,
    executable_processes,
    lint_diagram,
    local_name,
)
from processes.problems import Problem, make_problem, unique_problems
from processes.xml_reading import Document, check_schema, read_xml

logger = logging.getLogger(__name__)

STAGES = ("xml", "schema", "engine", "script", "lint")


@dataclass
class Verdict:
    """What validation found in one diagram file."""

    filename: str
    problems: list[Problem]
    process_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Say whether the diagram passed every stage."""
        return not self.problems


@dataclass
class ParsedDiagram:
    """A validated diagram: its main process spec and the specs it calls."""

    process_id: str
    name: str | None
    spec: SpiffBpmnProcessSpec
    subprocess_specs: dict
    called_process_ids: list[str]


@dataclass
class _EngineResult:
    parser: SpiffBpmnParser
    process_ids: list[str]


# Stage 3: engine.


_ENGINE_REWRITES = (
    ("A Service Task must have an operator", "service tasks are not supported"),
    ("Non-default exclusive outgoing sequence flow without condition", UNGUARDED_FLOW),
    (
        "Time Specification Error. Unknown Time Specification",
        "the timer has no timeDate, timeDuration or timeCycle",
    ),
)
_EVENT_REFERENCES = ("messageRef", "signalRef", "errorRef", "escalationRef")
_WRAPPED_ERROR = re.compile(r"^(TypeError|KeyError|AttributeError|ValueError)\(")


def _spiff_message(
    err: SpiffValidationException, element: etree._Element | None
) -> str:
    message = str(err.args[0]) if err.args else type(err).__name__
    notes = [note for note in getattr(err, "notes", []) if note]
    text = ". ".join([message.rstrip("."), *notes])
    for prefix, rewrite in _ENGINE_REWRITES:
        if text.startswith(prefix):
            return rewrite
    if _WRAPPED_ERROR.match(text):
        return _undefined_reference(element) or _unreadable(text)
    return text


def _unreadable(detail: str) -> str:
    return (
        f"the engine could not read this element ({detail}); a reference to "
        "something the diagram does not define is the usual cause"
    )


def _undefined_reference(element: etree._Element | None) -> str | None:
    """Name the event definition that points at nothing the diagram defines."""
    if element is None:
        return None
    defined = set(element.getroottree().getroot().xpath("//@id"))
    for definition in element:
        for attribute in _EVENT_REFERENCES:
            ref = definition.get(attribute)
            if ref and ref not in defined:
                return (
                    f'{local_name(definition)} refers to "{ref}", which the diagram '
                    "does not define"
                )
    return None


def _locate(documents: list[Document], element_id: str | None, filename: str):
    ordered = sorted(documents, key=lambda d: d.filename != filename)
    for document in ordered:
        element = document.element(element_id)
        if element is not None:
            return document, element
    return None, None


def _engine_problem(
    err: Exception, documents: list[Document], process_id: str | None
) -> Problem:
    if isinstance(err, SpiffValidationException):
        filename = getattr(err, "file_name", "") or ""
        document, element = _locate(documents, getattr(err, "id", None), filename)
        line = err.line_number if isinstance(err.line_number, int) else None
        if element is None:
            document, element = _locate(documents, process_id, filename)
        message = _spiff_message(err, element)
        return make_problem("engine", message, element, line=line, document=document)

    document, element = _locate(documents, process_id, "")
    message = _unreadable(f"{type(err).__name__}: {err}")
    return make_problem("engine", message, element, document=document)


def _run_engine(documents: list[Document]) -> tuple[_EngineResult | None, list]:
    """Let SpiffWorkflow parse every executable process of every document."""
    # The schemas were checked in stage 2; the parser need not check them again.
    parser = SpiffBpmnParser()
    try:
        for document in documents:
            parser.add_bpmn_xml(document.root, filename=document.filename)
    except Exception as err:  # the parser's failures are the diagram's problems
        logger.debug("diagram refused while loading", exc_info=True)
        return None, [_engine_problem(err, documents, None)]

    problems = []
    main_ids = _executable_ids(documents[0])
    if not main_ids:
        problems.append(_no_executable_process(documents[0]))
    for document in documents:
        for process_id in _executable_ids(document):
            problems.extend(_parse_process(parser, documents, process_id))

    if problems:
        return None, unique_problems(problems)
    return _EngineResult(parser, main_ids), []


def _executable_ids(document: Document) -> list[str]:
    return [p.get("id") for p in executable_processes(document.root) if p.get("id")]


def _no_executable_process(document: Document) -> Problem:
    processes = document.root.xpath(".//bpmn:process", namespaces=NSMAP)
    if not processes:
        message = "the diagram defines no process, so there is nothing to run"
        return make_problem("engine", message, document.root, document=document)
    message = (
        'no executable process: the diagram marks every process isExecutable="false"'
    )
    return make_problem("engine", message, processes[0], document=document)


def _parse_process(
    parser: SpiffBpmnParser, documents: list[Document], process_id: str
) -> list[Problem]:
    try:
        parser.get_spec(process_id)
        parser.get_subprocess_specs(process_id)
    except Exception as err:  # the parser's failures are the diagram's problems
        logger.debug("process %s refused by the engine", process_id, exc_info=True)
        return [_engine_problem(err, documents, process_id)]
    return []


# Stage 4: scripts.


def _check_scripts(documents: list[Document]) -> list[Problem]:
    """Compile every script and expression the engine will run."""
    problems = [
        make_problem("script", f.message, f.element, line=f.line, document=document)
        for document in documents
        for f in check_diagram_scripts(
            document.root, every_process=document.is_companion
        )
    ]
    return unique_problems(problems)


# Stage 5: lint.


def _task_lanes(engine: _EngineResult) -> dict[str, str | None]:
    lanes: dict[str, str | None] = {}
    for process_parser in list(engine.parser.process_parsers.values()):
        spec = process_parser.spec
        for task_spec in spec.task_specs.values() if spec is not None else ():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if bpmn_id:
                lanes.setdefault(bpmn_id, task_spec.lane)
    return lanes


def _lint(
    documents: list[Document],
    engine: _EngineResult,
    form_keys: Collection[str],
    lanes: Collection[str],
) -> list[Problem]:
    main = documents[0]
    known_ids = {
        p.get("id")
        for document in documents
        for p in document.root.xpath(".//bpmn:process", namespaces=NSMAP)
    }
    rules = LintRules(
        form_keys=frozenset(form_keys),
        lanes=frozenset(lanes),
        task_lanes=_task_lanes(engine),
        known_process_ids=known_ids,
    )
    findings = lint_diagram(main.root, rules)
    return unique_problems(
        make_problem("lint", f.message, f.element, line=f.line) for f in findings
    )


# The pipeline.


@dataclass
class _Outcome:
    verdict: Verdict
    engine: _EngineResult | None = None
    documents: list[Document] = field(default_factory=list)


def _read_all(
    xml: bytes, filename: str, companions: Mapping[str, bytes]
) -> tuple[list[Document], list[Problem]]:
    documents, problems = [], []
    sources = [(filename, xml, False)]
    sources += [(name, data, True) for name, data in companions.items()]
    for name, data, is_companion in sources:
        document, found = read_xml(data, name)
        if is_companion:
            found = [_as_companion(p, name) for p in found]
        problems.extend(found)
        if document is not None:
            document.is_companion = is_companion
            documents.append(document)
    return documents, problems


def _as_companion(problem: Problem, filename: str) -> Problem:
    return Problem(
        problem.stage,
        f"in {filename}: {problem.message}",
        problem.element_id,
        problem.element_name,
        problem.line,
    )


def _run(
    xml: bytes,
    filename: str,
    companions: Mapping[str, bytes] | None,
    form_keys: Collection[str],
    lanes: Collection[str],
    lint: bool,
) -> _Outcome:
    """Run the stages; a failure of the checks themselves becomes a problem too."""
    try:
        return _run_stages(xml, filename, companions, form_keys, lanes, lint)
    except Exception as err:  # a diagram must get a verdict, never a crash
        logger.exception("checking diagram %s failed", filename)
        message = f"the diagram could not be checked ({type(err).__name__}: {err})"
        return _Outcome(Verdict(filename, [Problem("engine", message)]))


def _run_stages(
    xml: bytes,
    filename: str,
    companions: Mapping[str, bytes] | None,
    form_keys: Collection[str],
    lanes: Collection[str],
    lint: bool,
) -> _Outcome:
    documents, problems = _read_all(xml, filename, companions or {})
    if problems:
        return _Outcome(Verdict(filename, problems))

    problems = [p for document in documents for p in check_schema(document)]
    if problems:
        return _Outcome(Verdict(filename, problems))

    engine, problems = _run_engine(documents)
    if engine is None:
        return _Outcome(Verdict(filename, problems))

    verdict = Verdict(filename, [], list(engine.process_ids))
    verdict.problems = _check_scripts(documents)
    if not verdict.problems and lint:
        verdict.problems = _lint(documents, engine, form_keys, lanes)
    return _Outcome(verdict, engine, documents)


def validate_diagram(
    xml: bytes,
    *,
    filename: str = "diagram.bpmn",
    companions: Mapping[str, bytes] | None = None,
    form_keys: Collection[str] = (),
    lanes: Collection[str] = (),
    lint: bool = True,
) -> Verdict:
    """Check a diagram stage by stage and return every problem of the first failure."""
    verdict = _run(xml, filename, companions, form_keys, lanes, lint).verdict
    if verdict.ok:
        logger.info("diagram %s is valid: %s", filename, ", ".join(verdict.process_ids))
    else:
        logger.info(
            "diagram %s refused at stage %s with %s problem(s)",
            filename,
            verdict.problems[0].stage,
            len(verdict.problems),
        )
    return verdict


def _refuse(filename: str, problems: list[Problem]) -> InvalidDiagram:
    count = len(problems)
    noun = "problem" if count == 1 else "problems"
    return InvalidDiagram(f"{filename}: {count} {noun}; first: {problems[0]}", problems)


def parse_diagram(
    xml: bytes,
    *,
    filename: str = "diagram.bpmn",
    companions: Mapping[str, bytes] | None = None,
    form_keys: Collection[str] = (),
    lanes: Collection[str] = (),
    process_id: str | None = None,
) -> ParsedDiagram:
    """Validate a diagram and return the spec of its main process, or raise."""
    outcome = _run(xml, filename, companions, form_keys, lanes, True)
    if not outcome.verdict.ok:
        raise _refuse(filename, outcome.verdict.problems)

    process_ids = outcome.verdict.process_ids
    chosen = process_id or process_ids[0]
    if chosen not in process_ids:
        message = (
            f'there is no executable process "{chosen}" in the diagram; '
            f"it has: {', '.join(process_ids)}"
        )
        raise _refuse(filename, [make_problem("engine", message)])

    parser = outcome.engine.parser
    subprocess_specs = parser.get_subprocess_specs(chosen)
    return ParsedDiagram(
        process_id=chosen,
        name=_process_name(outcome.documents[0], chosen),
        spec=parser.get_spec(chosen),
        subprocess_specs=subprocess_specs,
        called_process_ids=_called_process_ids(outcome.documents, subprocess_specs),
    )


def _process_name(document: Document, process_id: str) -> str | None:
    element = document.element(process_id)
    return element.get("name") if element is not None else None


def _called_process_ids(documents: list[Document], subprocess_specs: dict) -> list:
    processes = {
        p.get("id")
        for document in documents
        for p in document.root.xpath(".//bpmn:process", namespaces=NSMAP)
    }
    return [spec_id for spec_id in subprocess_specs if spec_id in processes]


__all__ = [
    "STAGES",
    "ParsedDiagram",
    "Problem",
    "Verdict",
    "parse_diagram",
    "validate_diagram",
]
