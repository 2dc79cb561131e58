"""What changed between two versions of a diagram, element by element.

Elements are matched by id. An element counts as changed when its type, its name,
its attributes (other than layout) or the text it carries (scripts, conditions,
timer expressions, platform properties) differ. Layout alone (positions in the
diagram interchange part) is reported once, not per element.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from processes.xml_reading import read_xml

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DI_NAMESPACES = (
    "http://www.omg.org/spec/BPMN/20100524/DI",
    "http://www.omg.org/spec/DD/20100524/DI",
    "http://www.omg.org/spec/DD/20100524/DC",
)
# Elements that merely hold others or refer to them; their changes show elsewhere.
CONTAINERS = frozenset({"definitions", "incoming", "outgoing", "flowNodeRef"})


@dataclass(frozen=True)
class ElementChange:
    """One element that was added, removed or changed, and how."""

    element_id: str
    kind: str
    name: str
    details: tuple[str, ...] = ()


@dataclass
class DiagramDiff:
    """The differences between an older and a newer diagram."""

    added: list[ElementChange] = field(default_factory=list)
    removed: list[ElementChange] = field(default_factory=list)
    changed: list[ElementChange] = field(default_factory=list)
    layout_changed: bool = False

    @property
    def empty(self) -> bool:
        """Tell whether the two diagrams mean the same."""
        return not (self.added or self.removed or self.changed)

    def as_json(self) -> dict:
        """Return the differences as the diff page's script reads them."""

        def rows(changes):
            return [
                {
                    "id": c.element_id,
                    "kind": c.kind,
                    "name": c.name,
                    "details": c.details,
                }
                for c in changes
            ]

        return {
            "added": rows(self.added),
            "removed": rows(self.removed),
            "changed": rows(self.changed),
            "layout_changed": self.layout_changed,
        }


def diff_diagrams(old_xml: bytes, new_xml: bytes) -> DiagramDiff:
    """Compare two stored diagrams element by element."""
    old_elements, old_layout = _read(old_xml, "older version")
    new_elements, new_layout = _read(new_xml, "newer version")
    result = DiagramDiff(layout_changed=old_layout != new_layout)

    for element_id, (kind, name, signature) in new_elements.items():
        before = old_elements.get(element_id)
        if before is None:
            result.added.append(ElementChange(element_id, kind, name))
        elif before[2] != signature or before[:2] != (kind, name):
            details = _what_changed(before, (kind, name, signature))
            result.changed.append(ElementChange(element_id, kind, name, details))
    for element_id, (kind, name, _) in old_elements.items():
        if element_id not in new_elements:
            result.removed.append(ElementChange(element_id, kind, name))
    return result


def _read(xml: bytes, label: str) -> tuple[dict, bytes]:
    document, problems = read_xml(xml, label)
    if document is None:
        raise ValueError(f"the {label} cannot be read: {problems[0]}")
    elements = {}
    layout = []
    for element in document.root.iter(etree.Element):
        namespace, _, local = element.tag.rpartition("}")
        namespace = namespace.lstrip("{")
        if namespace in DI_NAMESPACES:
            layout.append(etree.tostring(element, with_tail=False))
            continue
        element_id = element.get("id")
        if namespace != BPMN_NS or not element_id or local in CONTAINERS:
            continue
        elements[element_id] = (local, element.get("name") or "", _signature(element))
    return elements, b"".join(sorted(layout))


def _signature(element: etree._Element) -> dict[str, str]:
    """Return what an element means: its attributes and the text of its parts.

    Parts that carry an id of their own are compared on their own and left out.
    """
    meaning = {f"@{k}": v for k, v in element.attrib.items() if k != "id"}
    _add_parts(meaning, element, "")
    return meaning


def _add_parts(meaning: dict[str, str], element: etree._Element, prefix: str) -> None:
    seen: dict[str, int] = {}
    for part in element.iterchildren(etree.Element):
        if part.get("id"):
            continue
        name = etree.QName(part).localname
        seen[name] = seen.get(name, 0) + 1
        path = f"{prefix}{name}" if seen[name] == 1 else f"{prefix}{name}[{seen[name]}]"
        text = (part.text or "").strip()
        if text:
            meaning[f"{path}#text"] = text
        for key, value in part.attrib.items():
            meaning[f"{path}@{key}"] = value
        _add_parts(meaning, part, f"{path}/")


def _what_changed(before: tuple, after: tuple) -> tuple[str, ...]:
    details = []
    if before[0] != after[0]:
        details.append(f"type {before[0]} → {after[0]}")
    if before[1] != after[1]:
        details.append(f"name “{before[1]}” → “{after[1]}”")
    old, new = before[2], after[2]
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            details.append(_describe_key(key, old.get(key), new.get(key)))
    return tuple(details)


def _describe_key(key: str, old: str | None, new: str | None) -> str:
    if old is None:
        return f"{key} added: {new}"
    if new is None:
        return f"{key} removed (was {old})"
    return f"{key}: {old} → {new}"
