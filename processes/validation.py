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
import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import (
    ValidationException as SpiffValidationException,
)
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import (
    BpmnProcessSpec as SpiffBpmnProcessSpec,
)
from SpiffWorkflow.spiff.parser.process import VALIDATOR as SPIFF_VALIDATOR
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from processes.errors import InvalidDiagram
from processes.lint import (
    MODEL_NS,
    NSMAP,
    SPIFF_NS,
    UNGUARDED_FLOW,
    LintRules,
    check_diagram_scripts,
    executable_processes,
    lint_diagram,
    local_name,
)

logger = logging.getLogger(__name__)

STAGES = ("xml", "schema", "engine", "script", "lint")

_SHORT_NAMESPACES = {
    MODEL_NS: "bpmn:",
    "http://www.omg.org/spec/BPMN/20100524/DI": "bpmndi:",
    "http://www.omg.org/spec/DD/20100524/DC": "dc:",
    "http://www.omg.org/spec/DD/20100524/DI": "di:",
    SPIFF_NS: "spiffworkflow:",
}
_MAX_MESSAGE_CHARS = 400

# lxml schemas keep one error log per instance, so validations take turns.
_SCHEMA_LOCK = threading.Lock()


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a diagram, and where."""

    stage: str
    message: str
    element_id: str | None = None
    element_name: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = []
        if self.line:
            where.append(f"line {self.line}")
        if self.element_id:
            name = f" ({self.element_name})" if self.element_name else ""
            where.append(f"{self.element_id}{name}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


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
class _Document:
    filename: str
    root: etree._Element
    is_companion: bool = False
    _by_id: dict[str, etree._Element] | None = None

    def element(self, element_id: str | None) -> etree._Element | None:
        if not element_id:
            return None
        if self._by_id is None:
            self._by_id = {}
            for element in self.root.iter(etree.Element):
                self._by_id.setdefault(element.get("id"), element)
        return self._by_id.get(element_id)


@dataclass
class _EngineResult:
    parser: SpiffBpmnParser
    process_ids: list[str]


def _problem(
    stage: str,
    message: str,
    element: etree._Element | None = None,
    *,
    line: int | None = None,
    document: _Document | None = None,
) -> Problem:
    if document is not None and document.is_companion:
        message = f"in {document.filename}: {message}"
    if len(message) > _MAX_MESSAGE_CHARS:
        message = message[: _MAX_MESSAGE_CHARS - 1] + "…"
    if element is None:
        return Problem(stage, message, line=line)
    return Problem(
        stage,
        message,
        element_id=element.get("id"),
        element_name=element.get("name"),
        line=line or element.sourceline,
    )


# Stage 1: XML.

_BINARY_SIGNATURES = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (perhaps an office document)"),
)
_UNICODE_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_DOCTYPE = "<!DOCTYPE"
_DOCTYPE_REFUSED = "document type declarations (DOCTYPE) are not allowed"


def _hardened_parser(encoding: str | None = None) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        encoding=encoding,
    )


def _binary_kind(data: bytes) -> str | None:
    for signature, kind in _BINARY_SIGNATURES:
        if data.startswith(signature):
            return kind
    if b"\x00" in data[:1024] and not data.startswith(_UNICODE_BOMS):
        return "binary data"
    return None


def _xml_message(message: str) -> str:
    if message.startswith("Start tag expected"):
        return "the file is not XML: it does not start with an XML element"
    if "encoding" in message.lower():
        return (
            f"{message}: the bytes do not match the declared encoding; "
            "save the file as UTF-8"
        )
    return message


def _read_xml(data: bytes | str, filename: str) -> tuple[_Document | None, list]:
    """Parse the bytes of a diagram with entities, DTDs and network off."""
    parser = _hardened_parser("utf-8" if isinstance(data, str) else None)
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data or b"")
    if not raw.strip():
        return None, [_problem("xml", "the file is empty")]
    kind = _binary_kind(raw)
    if kind:
        return None, [_problem("xml", f"the file is {kind}, not a BPMN diagram")]

    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as err:
        return None, _doctype_problems(raw) + _syntax_problems(parser, err)
    except (etree.LxmlError, ValueError, OSError, UnicodeError) as err:
        return None, [_problem("xml", _xml_message(str(err)))]

    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        return None, [_problem("xml", _DOCTYPE_REFUSED, line=1)]
    return _Document(filename, root), []


def _doctype_problems(raw: bytes) -> list[Problem]:
    """Name a DOCTYPE in a document too broken to parse (its entities may be why)."""
    markers = [_DOCTYPE.encode(codec) for codec in ("utf-8", "utf-16-le", "utf-16-be")]
    if any(marker in raw for marker in markers):
        return [_problem("xml", _DOCTYPE_REFUSED)]
    return []


def _syntax_problems(parser: etree.XMLParser, err: etree.XMLSyntaxError) -> list:
    entries = [e for e in parser.error_log if e.level >= etree.ErrorLevels.ERROR]
    problems = [
        _problem("xml", _xml_message(entry.message), line=entry.line or None)
        for entry in entries
    ]
    if not problems:
        problems = [_problem("xml", _xml_message(err.msg), line=err.lineno or None)]
    return _unique(problems)


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


# Stage 2: schema.


def _shorten_namespaces(message: str) -> str:
    for namespace, prefix in _SHORT_NAMESPACES.items():
        message = message.replace(f"{{{namespace}}}", prefix)
    return message


def _check_root(document: _Document) -> list[Problem]:
    root = document.root
    qname = etree.QName(root)
    if qname.namespace == MODEL_NS and qname.localname == "definitions":
        return []
    if qname.localname == "definitions" and not qname.namespace:
        message = (
            "the definitions element has no namespace: declare the BPMN 2.0 model "
            f'namespace, e.g. xmlns:bpmn="{MODEL_NS}"'
        )
    else:
        message = (
            f"this is not a BPMN 2.0 diagram: the root element is {root.tag}, "
            f"not definitions in the BPMN 2.0 model namespace ({MODEL_NS})"
        )
    return [_problem("schema", message, root, document=document)]


def _element_on_line(document: _Document, line: int) -> etree._Element | None:
    for element in document.root.iter(etree.Element):
        if element.sourceline == line and element.get("id"):
            return element
        if element.sourceline and element.sourceline > line:
            return None
    return None


def _check_schema(document: _Document) -> list[Problem]:
    """Validate against the BPMN and spiffworkflow schemas SpiffWorkflow bundles."""
    problems = _check_root(document)
    if problems:
        return problems

    # The engine's validator renames one element bpmn.io writes wrongly; do the same.
    SPIFF_VALIDATOR.preprocess(document.root)
    schema = SPIFF_VALIDATOR.validator
    with _SCHEMA_LOCK:
        valid = schema.validate(document.root.getroottree())
        entries = [] if valid else list(schema.error_log)

    for entry in entries:
        element = _element_on_line(document, entry.line)
        message = _shorten_namespaces(entry.message)
        problems.append(
            _problem("schema", message, element, line=entry.line, document=document)
        )
    if not valid and not problems:
        problems.append(_problem("schema", "the diagram does not match the schema"))
    return _unique(problems)


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


def _locate(documents: list[_Document], element_id: str | None, filename: str):
    ordered = sorted(documents, key=lambda d: d.filename != filename)
    for document in ordered:
        element = document.element(element_id)
        if element is not None:
            return document, element
    return None, None


def _engine_problem(
    err: Exception, documents: list[_Document], process_id: str | None
) -> Problem:
    if isinstance(err, SpiffValidationException):
        filename = getattr(err, "file_name", "") or ""
        document, element = _locate(documents, getattr(err, "id", None), filename)
        line = err.line_number if isinstance(err.line_number, int) else None
        if element is None:
            document, element = _locate(documents, process_id, filename)
        message = _spiff_message(err, element)
        return _problem("engine", message, element, line=line, document=document)

    document, element = _locate(documents, process_id, "")
    message = _unreadable(f"{type(err).__name__}: {err}")
    return _problem("engine", message, element, document=document)


def _run_engine(documents: list[_Document]) -> tuple[_EngineResult | None, list]:
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
        return None, _unique(problems)
    return _EngineResult(parser, main_ids), []


def _executable_ids(document: _Document) -> list[str]:
    return [p.get("id") for p in executable_processes(document.root) if p.get("id")]


def _no_executable_process(document: _Document) -> Problem:
    processes = document.root.xpath(".//bpmn:process", namespaces=NSMAP)
    if not processes:
        message = "the diagram defines no process, so there is nothing to run"
        return _problem("engine", message, document.root, document=document)
    message = (
        'no executable process: the diagram marks every process isExecutable="false"'
    )
    return _problem("engine", message, processes[0], document=document)


def _parse_process(
    parser: SpiffBpmnParser, documents: list[_Document], process_id: str
) -> list[Problem]:
    try:
        parser.get_spec(process_id)
        parser.get_subprocess_specs(process_id)
    except Exception as err:  # the parser's failures are the diagram's problems
        logger.debug("process %s refused by the engine", process_id, exc_info=True)
        return [_engine_problem(err, documents, process_id)]
    return []


# Stage 4: scripts.


def _check_scripts(documents: list[_Document]) -> list[Problem]:
    """Compile every script and expression the engine will run."""
    problems = [
        _problem("script", f.message, f.element, line=f.line, document=document)
        for document in documents
        for f in check_diagram_scripts(
            document.root, every_process=document.is_companion
        )
    ]
    return _unique(problems)


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
    documents: list[_Document],
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
    return _unique(
        _problem("lint", f.message, f.element, line=f.line) for f in findings
    )


# The pipeline.


@dataclass
class _Outcome:
    verdict: Verdict
    engine: _EngineResult | None = None
    documents: list[_Document] = field(default_factory=list)


def _read_all(
    xml: bytes, filename: str, companions: Mapping[str, bytes]
) -> tuple[list[_Document], list[Problem]]:
    documents, problems = [], []
    sources = [(filename, xml, False)]
    sources += [(name, data, True) for name, data in companions.items()]
    for name, data, is_companion in sources:
        document, found = _read_xml(data, name)
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

    problems = [p for document in documents for p in _check_schema(document)]
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
        raise _refuse(filename, [_problem("engine", message)])

    parser = outcome.engine.parser
    subprocess_specs = parser.get_subprocess_specs(chosen)
    return ParsedDiagram(
        process_id=chosen,
        name=_process_name(outcome.documents[0], chosen),
        spec=parser.get_spec(chosen),
        subprocess_specs=subprocess_specs,
        called_process_ids=_called_process_ids(outcome.documents, subprocess_specs),
    )


def _process_name(document: _Document, process_id: str) -> str | None:
    element = document.element(process_id)
    return element.get("name") if element is not None else None


def _called_process_ids(documents: list[_Document], subprocess_specs: dict) -> list:
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
