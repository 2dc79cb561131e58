"""The OpenAPI 3.1 description of the JSON API, written as data."""

from __future__ import annotations

import copy

PROBLEM = "application/problem+json"
JSON = "application/json"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _problem(name: str) -> dict:
    return {"$ref": f"#/components/responses/{name}"}


def _path_id(name: str, what: str) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"the {what}'s id",
        "schema": {"type": "integer", "minimum": 1},
    }


def _query(name: str, description: str, schema: dict) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


NULLABLE_STRING = {"type": ["string", "null"]}
INSTANT = {"type": ["string", "null"], "format": "date-time"}
ERRORS_AUTH = {"401": _problem("Unauthorized")}
ERRORS_TASK = {
    **ERRORS_AUTH,
    "403": _problem("Forbidden"),
    "404": _problem("NotFound"),
    "409": _problem("Conflict"),
}

TASK_PARAMETERS = [
    _query("cycle_id", "only tasks of this cycle", {"type": "integer", "minimum": 1}),
    _query(
        "level",
        "only tasks of this lane",
        {
            "type": "string",
            "enum": ["unit", "unit_leader", "county", "city", "province", "office"],
        },
    ),
    _query(
        "office_id",
        "only tasks of units under this office, which must lie in your scope",
        {"type": "integer", "minimum": 1},
    ),
    _query("unit_type", "only units of this type", {"type": "string"}),
    _query(
        "due",
        "overdue: the deadline has passed; week: it falls within 7 days",
        {"type": "string", "enum": ["overdue", "week"]},
    ),
    _query(
        "q",
        "text in the unit's name, case-insensitive",
        {"type": "string", "maxLength": 100},
    ),
    _query(
        "sort",
        "urgent (overdue first, then by deadline, then oldest received), due, "
        "received (newest first) or unit (by name)",
        {
            "type": "string",
            "enum": ["urgent", "due", "received", "unit"],
            "default": "urgent",
        },
    ),
    _query("page", "page number", {"type": "integer", "minimum": 1, "default": 1}),
    _query(
        "per_page",
        "tasks per page",
        {"type": "integer", "minimum": 1, "maximum": 100, "default": 25},
    ),
]

PATHS = {
    "/tokens": {
        "post": {
            "operationId": "issueToken",
            "summary": "Issue an API token against a user name and password",
            "description": "Counts as a sign-in: failures are audited and "
            "repeated failures are refused for a while.",
            "security": [],
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": _ref("TokenRequest")}},
            },
            "responses": {
                "201": _json(_ref("IssuedToken"), "the token, shown this once"),
                "400": _problem("BadRequest"),
                "401": _problem("Unauthorized"),
                "422": _problem("InvalidInput"),
            },
        },
        "get": {
            "operationId": "listTokens",
            "summary": "List your tokens (never the tokens themselves)",
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "items": {"type": "array", "items": _ref("Token")}
                        },
                    },
                    "your tokens, newest first",
                ),
                **ERRORS_AUTH,
            },
        },
    },
    "/tokens/{token_id}": {
        "delete": {
            "operationId": "revokeToken",
            "summary": "Revoke one of your tokens",
            "parameters": [_path_id("token_id", "token")],
            "responses": {
                "204": {"description": "revoked"},
                **ERRORS_AUTH,
                "404": _problem("NotFound"),
            },
        },
    },
    "/tasks": {
        "get": {
            "operationId": "listTasks",
            "summary": "List the tasks waiting for you",
            "parameters": TASK_PARAMETERS,
            "responses": {
                "200": _json(_ref("TaskPage"), "one page of tasks with counts"),
                **ERRORS_AUTH,
                "422": _problem("InvalidInput"),
            },
        },
    },
    "/tasks/{task_id}": {
        "get": {
            "operationId": "showTask",
            "summary": "Show a task with its form and the instance's lock_version",
            "parameters": [_path_id("task_id", "task")],
            "responses": {
                "200": _json(_ref("TaskDetail"), "the task"),
                **ERRORS_AUTH,
                "404": _problem("NotFound"),
            },
        },
    },
    "/tasks/{task_id}/claim": {
        "post": {
            "operationId": "claimTask",
            "summary": "Claim a waiting task",
            "parameters": [_path_id("task_id", "task")],
            "responses": {"200": _json(_ref("TaskItem"), "the task"), **ERRORS_TASK},
        },
    },
    "/tasks/{task_id}/unclaim": {
        "post": {
            "operationId": "unclaimTask",
            "summary": "Release a claimed task back to its lane",
            "parameters": [_path_id("task_id", "task")],
            "responses": {"200": _json(_ref("TaskItem"), "the task"), **ERRORS_TASK},
        },
    },
    "/tasks/{task_id}/complete": {
        "post": {
            "operationId": "completeTask",
            "summary": "Complete a task with its form data",
            "description": "Send back the task's lock_version as expected_version "
            "to be told (409) when someone changed the instance meanwhile.",
            "parameters": [_path_id("task_id", "task")],
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": _ref("CompleteRequest")}},
            },
            "responses": {
                "200": _json(_ref("StepResult"), "the step was taken"),
                "400": _problem("BadRequest"),
                **ERRORS_TASK,
                "422": _problem("InvalidInput"),
            },
        },
    },
    "/instances/{instance_id}": {
        "get": {
            "operationId": "showInstance",
            "summary": "Show a process instance with its tasks and timeline",
            "parameters": [_path_id("instance_id", "process instance")],
            "responses": {
                "200": _json(_ref("Instance"), "the instance"),
                **ERRORS_AUTH,
                "404": _problem("NotFound"),
            },
        },
    },
    "/notifications": {
        "get": {
            "operationId": "listNotifications",
            "summary": "List your newest notifications, with the unread count",
            "parameters": [
                _query(
                    "unread",
                    "1: only the notifications you have not read",
                    {"type": "string", "enum": ["0", "1"]},
                )
            ],
            "responses": {
                "200": _json(_ref("NotificationList"), "newest first"),
                **ERRORS_AUTH,
            },
        },
    },
    "/notifications/read": {
        "post": {
            "operationId": "readNotifications",
            "summary": "Mark notifications read: the given ids, or all of them",
            "requestBody": {
                "required": False,
                "content": {JSON: {"schema": _ref("ReadNotificationsRequest")}},
            },
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "marked": {"type": "integer"},
                            "unread": {"type": "integer"},
                        },
                    },
                    "how many were marked, and how many remain unread",
                ),
                "400": _problem("BadRequest"),
                **ERRORS_AUTH,
                "422": _problem("InvalidInput"),
            },
        },
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This description",
            "security": [],
            "responses": {"200": _json({"type": "object"}, "an OpenAPI document")},
        },
    },
}

NAMED = {
    "type": ["object", "null"],
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
}
PERSON = {
    "type": ["object", "null"],
    "properties": {"id": {"type": "integer"}, "display_name": {"type": "string"}},
}

SCHEMAS = {
    "Problem": {
        "type": "object",
        "description": "An error as RFC 9457 problem details",
        "required": ["title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "default": "about:blank"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string", "description": "what to do about it"},
            "errors": {
                "type": "object",
                "description": "field name → message, for invalid input",
                "additionalProperties": {"type": "string"},
            },
        },
    },
    "TokenRequest": {
        "type": "object",
        "required": ["username", "password"],
        "properties": {
            "username": {"type": "string"},
            "password": {"type": "string", "format": "password"},
            "name": {"type": "string", "maxLength": 80},
        },
    },
    "Token": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "prefix": {"type": "string", "description": "the token's first 8 chars"},
            "created_at": INSTANT,
            "last_used_at": INSTANT,
            "revoked_at": INSTANT,
        },
    },
    "IssuedToken": {
        "allOf": [
            _ref("Token"),
            {
                "type": "object",
                "required": ["token"],
                "properties": {"token": {"type": "string"}},
            },
        ]
    },
    "TaskItem": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "title": {"type": "string"},
            "form_key": {"type": "string"},
            "lane": {"type": "string"},
            "round": {"type": "integer"},
            "state": {"type": "string"},
            "unit": NAMED,
            "cycle": NAMED,
            "due_at": INSTANT,
            "created_at": INSTANT,
            "claimed_by": PERSON,
            "instance_id": {"type": "integer"},
        },
    },
    "FormField": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "type": {"type": "string"},
            "required": {"type": "boolean"},
            "description": {"type": "string"},
            "enum": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Indicator": {
        "type": "object",
        "properties": {
            "code": {"type": "string"},
            "name": {"type": "string"},
            "kind": {"type": "string"},
            "points": {"type": "number"},
            "office_only": {"type": "boolean"},
            "answerable_by_unit": {"type": "boolean"},
            "evidence": {
                "type": "object",
                "properties": {
                    "min_photos": {"type": "integer"},
                    "min_documents": {"type": "integer"},
                    "min_explanation_chars": {"type": "integer"},
                    "max_explanation_chars": {"type": "integer"},
                },
            },
        },
    },
    "RectificationOrder": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "level": {"type": "string"},
            "round": {"type": "integer"},
            "status": {"type": "string"},
            "due_at": INSTANT,
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "indicator": NULLABLE_STRING,
                        "description": {"type": "string"},
                        "response": {"type": "string"},
                        "accepted": {"type": ["boolean", "null"]},
                        "verifier_comment": {"type": "string"},
                    },
                },
            },
        },
    },
    "Form": {
        "type": "object",
        "properties": {
            "key": {"type": "string"},
            "title": {"type": "string"},
            "fields": {"type": "array", "items": _ref("FormField")},
            "indicators": {
                "type": "array",
                "items": _ref("Indicator"),
                "description": "for unit_submission and review",
            },
            "order": {
                **_ref("RectificationOrder"),
                "description": "for rectification and verification",
            },
        },
    },
    "TaskDetail": {
        "allOf": [
            _ref("TaskItem"),
            {
                "type": "object",
                "properties": {
                    "instructions": {"type": "string"},
                    "lock_version": {"type": "integer"},
                    "form": _ref("Form"),
                },
            },
        ]
    },
    "TaskPage": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": _ref("TaskItem")},
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "counts": {
                "type": "object",
                "description": "counts over all tasks waiting for you, unfiltered",
                "properties": {
                    "all": {"type": "integer"},
                    "cycle": {
                        "type": "object",
                        "description": "cycle id → tasks",
                        "additionalProperties": {"type": "integer"},
                    },
                    "level": {
                        "type": "object",
                        "description": "lane → tasks",
                        "additionalProperties": {"type": "integer"},
                    },
                    "due": {
                        "type": "object",
                        "properties": {
                            "overdue": {"type": "integer"},
                            "week": {"type": "integer"},
                        },
                    },
                },
            },
        },
    },
    "Notification": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string"},
            "title": {"type": "string"},
            "task_id": {"type": ["integer", "null"]},
            "instance_id": {"type": ["integer", "null"]},
            "created_at": INSTANT,
            "read_at": INSTANT,
        },
    },
    "NotificationList": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": _ref("Notification")},
            "unread": {"type": "integer"},
        },
    },
    "ReadNotificationsRequest": {
        "type": "object",
        "properties": {
            "ids": {
                "type": "array",
                "items": {"type": "integer", "minimum": 1},
                "description": "leave out to mark every notification read",
            }
        },
    },
    "CompleteRequest": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "object",
                "description": "the form's fields, as the task's form describes",
            },
            "expected_version": {
                "type": "integer",
                "minimum": 1,
                "description": "the lock_version read with the task",
            },
        },
    },
    "StepResult": {
        "type": "object",
        "properties": {
            "instance_id": {"type": "integer"},
            "status": {"type": "string"},
            "ready_tasks": {
                "type": "array",
                "description": "the tasks now waiting in the instance",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "bpmn_id": {"type": "string"},
                        "title": {"type": "string"},
                        "lane": {"type": "string"},
                        "form_key": {"type": "string"},
                    },
                },
            },
        },
    },
    "Instance": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "status": {"type": "string"},
            "outcome": NULLABLE_STRING,
            "process": {
                "type": "object",
                "properties": {
                    "key": {"type": "string"},
                    "version": {"type": "integer"},
                },
            },
            "business_key": {"type": "string"},
            "unit": NAMED,
            "cycle": NAMED,
            "lock_version": {"type": "integer"},
            "started_at": INSTANT,
            "completed_at": INSTANT,
            "active_tasks": {"type": "array", "items": _ref("TaskItem")},
            "timeline": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "at": INSTANT,
                        "action": {"type": "string"},
                        "actor": PERSON,
                        "detail": {"type": "object"},
                    },
                },
            },
        },
    },
}


def _problem_response(description: str, headers: dict | None = None) -> dict:
    response = {
        "description": description,
        "content": {PROBLEM: {"schema": _ref("Problem")}},
    }
    if headers:
        response["headers"] = headers
    return response


RESPONSES = {
    "BadRequest": _problem_response("the body is not a JSON object"),
    "Unauthorized": _problem_response(
        "no valid token, or wrong credentials",
        {
            "WWW-Authenticate": {
                "description": "the scheme to use: Bearer",
                "schema": {"type": "string"},
            }
        },
    ),
    "Forbidden": _problem_response("the task is in a lane you do not work"),
    "NotFound": _problem_response("it does not exist or is outside your scope"),
    "Conflict": _problem_response(
        "the task is no longer waiting, claimed by someone else, or its "
        "instance changed since you read it"
    ),
    "InvalidInput": _problem_response("some fields are wrong; see errors"),
}

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "Wenming API",
        "version": "1",
        "description": "The task inbox of the Wenming creation work platform: "
        "list, claim and complete tasks, follow process instances. Every error "
        "is an application/problem+json document.",
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearer": []}],
    "paths": PATHS,
    "components": {
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "a token from POST /tokens",
            }
        },
        "schemas": SCHEMAS,
        "responses": RESPONSES,
    },
}


def openapi_document() -> dict:
    """Return a copy of the OpenAPI document, safe for the caller to change."""
    return copy.deepcopy(DOCUMENT)
