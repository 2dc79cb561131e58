"""Read untrusted diagram bytes as XML safely and check them against BPMN schemas."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from lxml import etree
from SpiffWorkflow.spiff.parser.process import VALIDATOR as SPIFF_VALIDATOR

from processes.lint import MODEL_NS, SPIFF_NS
from processes.problems import Problem, make_problem, unique_problems

_SHORT_NAMESPACES = {
    MODEL_NS: "bpmn:",
    "http://www.omg.org/spec/BPMN/20100524/DI": "bpmndi:",
    "http://www.omg.org/spec/DD/20100524/DC": "dc:",
    "http://www.omg.org/spec/DD/20100524/DI": "di:",
    SPIFF_NS: "spiffworkflow:",
}

# lxml schemas keep one error log per instance, so validations take turns.
_SCHEMA_LOCK = threading.Lock()


@dataclass
class Document:
    """One parsed diagram file: its name, XML root and whether it is a companion."""

    filename: str
    root: etree._Element
    is_companion: bool = False
    _by_id: dict[str, etree._Element] | None = None

    def element(self, element_id: str | None) -> etree._Element | None:
        """Find the first element carrying this id, or None."""
        if not element_id:
            return None
        if self._by_id is None:
            self._by_id = {}
            for element in self.root.iter(etree.Element):
                self._by_id.setdefault(element.get("id"), element)
        return self._by_id.get(element_id)


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


def read_xml(data: bytes | str, filename: str) -> tuple[Document | None, list[Problem]]:
    """Parse the bytes of a diagram with entities, DTDs and network off."""
    parser = _hardened_parser("utf-8" if isinstance(data, str) else None)
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data or b"")
    if not raw.strip():
        return None, [make_problem("xml", "the file is empty")]
    kind = _binary_kind(raw)
    if kind:
        return None, [make_problem("xml", f"the file is {kind}, not a BPMN diagram")]

    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as err:
        return None, _doctype_problems(raw) + _syntax_problems(parser, err)
    except (etree.LxmlError, ValueError, OSError, UnicodeError) as err:
        return None, [make_problem("xml", _xml_message(str(err)))]

    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        return None, [make_problem("xml", _DOCTYPE_REFUSED, line=1)]
    return Document(filename, root), []


def _doctype_problems(raw: bytes) -> list[Problem]:
    """Name a DOCTYPE in a document too broken to parse (its entities may be why)."""
    markers = [_DOCTYPE.encode(codec) for codec in ("utf-8", "utf-16-le", "utf-16-be")]
    if any(marker in raw for marker in markers):
        return [make_problem("xml", _DOCTYPE_REFUSED)]
    return []


def _syntax_problems(
    parser: etree.XMLParser, err: etree.XMLSyntaxError
) -> list[Problem]:
    entries = [e for e in parser.error_log if e.level >= etree.ErrorLevels.ERROR]
    problems = [
        make_problem("xml", _xml_message(entry.message), line=entry.line or None)
        for entry in entries
    ]
    if not problems:
        problems = [make_problem("xml", _xml_message(err.msg), line=err.lineno or None)]
    return unique_problems(problems)


# Stage 2: schema.


def _shorten_namespaces(message: str) -> str:
    for namespace, prefix in _SHORT_NAMESPACES.items():
        message = message.replace(f"{{{namespace}}}", prefix)
    return message


def check_root(document: Document) -> list[Problem]:
    """Refuse a root that is not definitions in the BPMN 2.0 model namespace."""
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
    return [make_problem("schema", message, root, document=document)]


def _element_on_line(document: Document, line: int) -> etree._Element | None:
    for element in document.root.iter(etree.Element):
        if element.sourceline == line and element.get("id"):
            return element
        if element.sourceline and element.sourceline > line:
            return None
    return None


def check_schema(document: Document) -> list[Problem]:
    """Validate against the BPMN and spiffworkflow schemas SpiffWorkflow bundles."""
    problems = check_root(document)
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
            make_problem("schema", message, element, line=entry.line, document=document)
        )
    if not valid and not problems:
        problems.append(make_problem("schema", "the diagram does not match the schema"))
    return unique_problems(problems)


__all__ = ["Document", "check_root", "check_schema", "read_xml"]
