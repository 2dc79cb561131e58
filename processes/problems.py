"""The Problem record every validation stage reports, and how stages build one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lxml import etree

if TYPE_CHECKING:
    from processes.xml_reading import Document

_MAX_MESSAGE_CHARS = 400


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


def make_problem(
    stage: str,
    message: str,
    element: etree._Element | None = None,
    *,
    line: int | None = None,
    document: Document | None = None,
) -> Problem:
    """Build a problem at an element, naming the companion file it came from."""
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


def unique_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Drop repeated problems, keeping the first of each in order."""
    return list(dict.fromkeys(problems))


__all__ = ["Problem", "make_problem", "unique_problems"]
