"""One way to answer errors: an HTML page or an application/problem+json body."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, make_response, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from app.extensions import db
from processes.errors import WenmingError

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

STATUS_TITLES = {
    400: _l("The request could not be handled"),
    401: _l("Please sign in"),
    403: _l("You may not do this"),
    404: _l("Page not found"),
    405: _l("This action is not available here"),
    409: _l("Someone else changed this first"),
    413: _l("The upload is too large"),
    422: _l("Some input needs correcting"),
    500: _l("Something went wrong on our side"),
}

STATUS_HINTS = {
    400: _l("Check what you entered and try again."),
    401: _l("Sign in and try again."),
    403: _l(
        "Your role or office does not allow this. Ask your office "
        "administrator if you think it should."
    ),
    404: _l("The page does not exist, or it is outside your office or unit."),
    405: _l("Go back and use the buttons on the page."),
    409: _l("Reload the page to see the latest state, then try again."),
    413: _l("Make the file smaller, or upload fewer files at once."),
    422: _l("Correct the marked fields and send the form again."),
    500: _l(
        "The problem has been logged. Try again in a moment; if it "
        "persists, tell your administrator."
    ),
}

HANDLED_STATUSES = (400, 401, 403, 404, 405, 409, 413, 422)


def register_error_handlers(app: Flask) -> None:
    """Answer platform errors, HTTP errors and CSRF failures in one format."""
    app.register_error_handler(WenmingError, handle_wenming_error)
    app.register_error_handler(CSRFError, handle_csrf_error)
    for status in HANDLED_STATUSES:
        app.register_error_handler(status, handle_http_error)
    app.register_error_handler(InternalServerError, handle_internal_error)


def wants_json() -> bool:
    """Tell whether the current request should get a JSON problem document."""
    if request.path.startswith("/api/"):
        return True
    offered = ["text/html", "application/json", PROBLEM_JSON]
    best = request.accept_mimetypes.best_match(offered)
    return best in ("application/json", PROBLEM_JSON)


def error_response(
    status: int, detail: str, title: str | None = None, **extra: Any
) -> Response:
    """Return an error as problem+json or as the HTML error page, by request."""
    db.session.rollback()

    if wants_json():
        title = title or HTTP_STATUS_CODES.get(status, "Error")
        problem = {"type": "about:blank", "title": title}
        problem.update(status=status, detail=detail, **extra)
        response = jsonify(problem)
        response.content_type = PROBLEM_JSON
        response.status_code = status
        return response

    page = render_template(
        [f"errors/{status}.html", "errors/error.html"],
        status=status,
        title=_title(status),
        detail=detail,
        hint=STATUS_HINTS.get(status, STATUS_HINTS[400]),
    )
    return make_response(page, status)


def handle_wenming_error(error: WenmingError) -> Response:
    """Answer a platform error with its own status and message."""
    if error.status_code >= 500:
        logger.exception("request %s %s failed", request.method, request.path)
    problem = error.to_dict()
    extra = {k: v for k, v in problem.items() if k not in ("title", "status", "detail")}
    return error_response(error.status_code, error.message, error.title, **extra)


def handle_csrf_error(error: CSRFError) -> Response:
    """Answer a form sent without a valid security token."""
    logger.warning("form refused on %s: %s", request.path, error.description)
    detail = str(
        _l(
            "The form was sent without a valid security token, perhaps because "
            "it was open too long. Reload the page and send it again."
        )
    )
    return error_response(400, detail, error.name)


def handle_http_error(error: HTTPException) -> Response:
    """Answer an HTTP error raised by routing, a view or a size limit."""
    status = error.code or 500
    detail = error.description if wants_json() else ""
    response = error_response(status, detail or "", error.name)
    allowed = getattr(error, "valid_methods", None)
    if allowed:
        response.headers["Allow"] = ", ".join(allowed)
    return response


def handle_internal_error(error: InternalServerError) -> Response:
    """Answer an unexpected failure; Flask has already logged its traceback."""
    if error.original_exception is None:
        logger.error("request %s %s aborted with 500", request.method, request.path)
    detail = "The server failed while handling the request." if wants_json() else ""
    return error_response(500, detail)


def _title(status: int) -> str:
    return str(STATUS_TITLES.get(status, STATUS_TITLES[400]))
