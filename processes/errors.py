"""Errors that know how to present themselves to a person, shared by every layer."""

from __future__ import annotations


class WenmingError(Exception):
    """Base error: a message a person can act on and the HTTP status it maps to."""

    status_code = 400
    title = "Request failed"

    def __init__(self, message: str, *, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict:
        """Return the error as a problem document (RFC 9457 fields)."""
        problem = {"title": self.title, "status": self.status_code}
        problem["detail"] = self.message
        problem.update(self.details)
        return problem


class NotFound(WenmingError):
    """The object does not exist, or the user may not know that it does."""

    status_code = 404
    title = "Not found"


class Unauthorized(WenmingError):
    """The caller is not signed in, or the credentials or token are not valid."""

    status_code = 401
    title = "Unauthorized"


class Forbidden(WenmingError):
    """The user is known but may not do this."""

    status_code = 403
    title = "Forbidden"


class Conflict(WenmingError):
    """Someone else changed the object first; reload and try again."""

    status_code = 409
    title = "Conflict"


class InvalidInput(WenmingError):
    """Submitted data is wrong; `details["errors"]` maps field names to messages."""

    status_code = 422
    title = "Invalid input"


class InvalidDiagram(WenmingError):
    """A BPMN diagram failed validation; `problems` lists what and where."""

    status_code = 422
    title = "Invalid diagram"

    def __init__(self, message: str, problems: list | None = None) -> None:
        super().__init__(
            message, details={"problems": [str(p) for p in problems or []]}
        )
        self.problems = list(problems or [])


class EngineError(WenmingError):
    """The workflow engine failed while running a step of a diagram."""

    status_code = 500
    title = "Workflow error"
