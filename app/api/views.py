"""The JSON API under /api/v1: tokens, the task inbox, completing tasks, instances.

Callers authenticate with `Authorization: Bearer <token>` only; the session
cookie of the web pages opens nothing here, so CSRF protection does not apply.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, g, jsonify, request

from app.api import schemas
from app.api.openapi import openapi_document
from app.extensions import csrf, db
from app.models import Notification, User, utcnow
from app.services import inbox, notifications, tasks, tokens
from app.services.base import transaction
from processes.errors import InvalidInput, Unauthorized, WenmingError

logger = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

PUBLIC_ENDPOINTS = frozenset({"api.issue_token", "api.openapi_json"})


class MalformedBody(WenmingError):
    """The request body is not the JSON object the endpoint reads."""

    title = "Malformed request body"


@bp.before_request
def require_token() -> None:
    """Identify the caller by the bearer token on every endpoint but the public."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send an API token as “Authorization: Bearer <token>”")
    user = tokens.authenticate(db.session, token.strip())
    if user is None:
        raise Unauthorized("the API token is not valid, or it has been revoked")
    g.api_user = user


@bp.after_request
def add_challenge(response: Response) -> Response:
    """Tell a client answered 401 which authentication scheme to use."""
    if response.status_code == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="wenming"')
    return response


@bp.post("/tokens")
def issue_token() -> tuple[Response, int]:
    """Issue a token to a person who signs in with user name and password."""
    body = _json_object()
    errors = {
        name: "enter text"
        for name in ("username", "password")
        if not isinstance(body.get(name), str) or not body.get(name)
    }
    if errors:
        raise InvalidInput("give username and password", details={"errors": errors})

    token, record = tokens.issue_token(
        db.session,
        username=body["username"],
        password=body["password"],
        name=body.get("name", ""),
        remote_addr=request.remote_addr,
    )
    return jsonify(token=token, **schemas.token_json(record)), 201


@bp.get("/tokens")
def list_tokens() -> Response:
    """List the caller's tokens without the tokens themselves."""
    records = tokens.list_tokens(db.session, _user())
    return jsonify(items=[schemas.token_json(record) for record in records])


@bp.delete("/tokens/<int:token_id>")
def revoke_token(token_id: int) -> tuple[str, int]:
    """Revoke one of the caller's tokens."""
    tokens.revoke_token(db.session, _user(), token_id)
    return "", 204


@bp.get("/tasks")
def list_tasks() -> Response:
    """List the tasks waiting for the caller, filtered, sorted and paged."""
    query = inbox.InboxQuery.from_args(request.args)
    page = inbox.inbox(db.session, _user(), query, now=utcnow())
    return jsonify(schemas.page_json(page))


@bp.get("/tasks/<int:task_id>")
def show_task(task_id: int) -> Response:
    """Show a task with its form and the instance version to send back."""
    task = tasks.get_task(db.session, _user(), task_id)
    return jsonify(schemas.task_detail(db.session, task))


@bp.post("/tasks/<int:task_id>/claim")
def claim_task(task_id: int) -> Response:
    """Claim a waiting task for the caller."""
    task = tasks.claim(db.session, _user(), task_id)
    return jsonify(schemas.task_item(inbox.item_for(db.session, task)))


@bp.post("/tasks/<int:task_id>/unclaim")
def unclaim_task(task_id: int) -> Response:
    """Release a claimed task back to its lane."""
    task = tasks.unclaim(db.session, _user(), task_id)
    return jsonify(schemas.task_item(inbox.item_for(db.session, task)))


@bp.post("/tasks/<int:task_id>/complete")
def complete_task(task_id: int) -> Response:
    """Complete a task with its form data."""
    body = _json_object()
    data = body.get("data")
    if not isinstance(data, dict):
        raise InvalidInput(
            "give the form's field values as an object under “data”",
            details={"errors": {"data": "give the form's field values as an object"}},
        )
    expected_version = _expected_version(body.get("expected_version"))

    result = tasks.complete(
        db.session, _user(), task_id, data, expected_version=expected_version
    )
    return jsonify(schemas.step_json(result))


@bp.get("/instances/<int:instance_id>")
def show_instance(instance_id: int) -> Response:
    """Show a process instance with its active tasks and timeline."""
    view = inbox.instance_view(db.session, _user(), instance_id)
    return jsonify(schemas.instance_json(view))


@bp.get("/notifications")
def list_notifications() -> Response:
    """List the caller's newest notifications (only unread ones with ?unread=1)."""
    unread_only = request.args.get("unread", "").strip() in ("1", "true")
    items = notifications.recent(db.session, _user(), unread_only=unread_only)
    return jsonify(
        items=[_notification_json(item) for item in items],
        unread=notifications.unread_count(db.session, _user()),
    )


@bp.post("/notifications/read")
def read_notifications() -> Response:
    """Mark the listed notifications read, or all of them when no ids are given."""
    ids = _notification_ids(_json_object().get("ids"))
    with transaction(db.session):
        marked = notifications.mark_read(db.session, _user(), ids)
    return jsonify(
        marked=marked, unread=notifications.unread_count(db.session, _user())
    )


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """Describe this API as an OpenAPI 3.1 document."""
    return jsonify(openapi_document())


def _user() -> User:
    return g.api_user


def _json_object() -> dict:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise MalformedBody(f"the request body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise MalformedBody("the request body must be a JSON object")
    return body


def _notification_json(item: Notification) -> dict:
    return {
        "id": item.id,
        "kind": item.kind,
        "title": item.title,
        "task_id": item.task_id,
        "instance_id": item.instance_id,
        "created_at": schemas.iso(item.created_at),
        "read_at": schemas.iso(item.read_at),
    }


def _notification_ids(value: object) -> list[int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
    ):
        message = "give ids as a list of notification ids (whole numbers)"
        raise InvalidInput(message, details={"errors": {"ids": message}})
    return value


def _expected_version(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        message = "give the lock_version read with the task, a whole number"
        raise InvalidInput(message, details={"errors": {"expected_version": message}})
    return value
