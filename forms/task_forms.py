"""The forms of human tasks, built per task from its indicators or order items.

Each form only gathers what the person typed; the services check it and answer
with errors keyed like ``A1.self_score`` or ``items.2``, which
``attach_errors`` places beside the matching fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)

from forms import public_forms, title_forms

RECTIFY_ROWS = 5
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class TaskForm(FlaskForm):
    """A task form: the fields of its form key and the instance version seen."""

    expected_version = HiddenField()
    item_rows: list[int] = []


@dataclass
class FormContext:
    """What a form needs to know about its task, without a database session."""

    form_key: str
    lock_version: int
    timezone: str = "Asia/Shanghai"
    indicators: tuple = ()
    answers: dict = field(default_factory=dict)
    items: list = field(default_factory=list)


def build_form(context: FormContext) -> TaskForm:
    """Return the form of the task's form key, prefilled, bound to the request."""
    builder = _BUILDERS[context.form_key]
    form_class, initial = builder(context)
    initial["expected_version"] = str(context.lock_version)
    return form_class(data=initial)


def form_data(form: TaskForm, context: FormContext) -> dict:
    """Turn the typed values into the data the task's service expects."""
    return _READERS[context.form_key](form, context)


def expected_version(form: TaskForm) -> int | None:
    """Return the instance version the form was opened at, if it carries one."""
    raw = (form.expected_version.data or "").strip()
    return int(raw) if raw.isdigit() else None


def attach_errors(form: TaskForm, errors: dict[str, str]) -> dict[str, str]:
    """Put each error beside its field; return the errors that have no field."""
    unplaced = {}
    for key, message in errors.items():
        name = _field_name(form, key)
        if name in form._fields:
            form[name].errors = [*form[name].errors, message]
        else:
            unplaced[key] = message
    return unplaced


def _field_name(form: TaskForm, key: str) -> str:
    if key == "items":
        return "item_1_description"
    if key.startswith("items.") and key[6:].isdigit():
        number = int(key[6:])
        rows = form.item_rows or []
        row = rows[number - 1] if 0 < number <= len(rows) else number
        return f"item_{row}_description"
    return key.replace(".", "_")


def answerable(indicator: Any) -> bool:
    """Tell whether the unit answers this indicator itself."""
    return indicator.kind in ("base", "bonus") and not indicator.office_only


def _submission(context: FormContext) -> tuple[type[TaskForm], dict]:
    class SubmissionForm(TaskForm):
        pass

    initial = {}
    for indicator in context.indicators:
        if not answerable(indicator):
            continue
        code = indicator.code
        setattr(
            SubmissionForm,
            f"{code}_self_score",
            StringField(
                _l("Self-score"),
                render_kw={
                    "type": "number",
                    "min": "0",
                    "max": str(indicator.points),
                    "step": "0.01",
                    "inputmode": "decimal",
                },
            ),
        )
        setattr(
            SubmissionForm,
            f"{code}_explanation",
            TextAreaField(
                _l("Explanation"),
                render_kw={
                    "rows": 4,
                    "maxlength": indicator.max_explanation_chars,
                    "data-counter": "true",
                },
            ),
        )
        answer = context.answers.get(code)
        if answer is not None:
            score = answer.self_score
            initial[f"{code}_self_score"] = "" if score is None else _plain(score)
            initial[f"{code}_explanation"] = answer.explanation
    return SubmissionForm, initial


def _read_submission(form: TaskForm, context: FormContext) -> dict:
    responses = {}
    for indicator in context.indicators:
        if not answerable(indicator):
            continue
        code = indicator.code
        score = (form[f"{code}_self_score"].data or "").strip()
        explanation = form[f"{code}_explanation"].data or ""
        if not score and not explanation.strip():
            continue
        responses[code] = {"self_score": score, "explanation": explanation}
    return {"responses": responses}


def _signoff(context: FormContext) -> tuple[type[TaskForm], dict]:
    class SignoffForm(TaskForm):
        decision = RadioField(
            _l("Decision"),
            choices=[
                SelectChoice("approve", _l("Approve and send on")),
                SelectChoice("return", _l("Return to the liaison")),
            ],
        )
        opinion = TextAreaField(_l("Opinion"), render_kw={"rows": 4})

    return SignoffForm, {}


def _read_signoff(form: TaskForm, context: FormContext) -> dict:
    return {"decision": form.decision.data, "opinion": form.opinion.data or ""}


def _review(context: FormContext) -> tuple[type[TaskForm], dict]:
    class ReviewForm(TaskForm):
        decision = RadioField(
            _l("Decision"),
            choices=[
                SelectChoice("approve", _l("Approve")),
                SelectChoice("rectify", _l("Order rectification")),
                SelectChoice("fail", _l("Fail")),
            ],
        )
        opinion = TextAreaField(_l("Opinion"), render_kw={"rows": 4})
        fail_reason = TextAreaField(_l("Reason for failing"), render_kw={"rows": 3})
        rectification_due = StringField(
            _l("Rectify by"), render_kw={"type": "datetime-local"}
        )

    choices = [SelectChoice("", _l("(whole submission)"))]
    for indicator in context.indicators:
        code = indicator.code
        if indicator.kind == "veto":
            setattr(ReviewForm, f"veto_{code}", BooleanField(indicator.name))
            continue
        choices.append(SelectChoice(code, f"{code} {indicator.name}"))
        maximum = {} if indicator.kind == "deduction" else {"max": indicator.points}
        setattr(
            ReviewForm,
            f"scores_{code}",
            StringField(
                _l("Score"),
                render_kw={"type": "number", "min": "0", "step": "0.01", **maximum},
            ),
        )
    for row in range(1, RECTIFY_ROWS + 1):
        setattr(
            ReviewForm,
            f"item_{row}_indicator",
            SelectField(_l("Indicator"), choices=choices),
        )
        setattr(
            ReviewForm,
            f"item_{row}_description",
            StringField(_l("Shortcoming to fix")),
        )
    return ReviewForm, {}


def _read_review(form: TaskForm, context: FormContext) -> dict:
    scores, vetoes = {}, []
    for indicator in context.indicators:
        code = indicator.code
        if indicator.kind == "veto":
            if form[f"veto_{code}"].data:
                vetoes.append(code)
            continue
        value = (form[f"scores_{code}"].data or "").strip()
        if value or indicator.kind == "base":
            scores[code] = value
    data = {
        "decision": form.decision.data,
        "scores": scores,
        "vetoes": vetoes,
        "opinion": form.opinion.data or "",
        "fail_reason": form.fail_reason.data or "",
    }
    if form.decision.data == "rectify":
        data["items"], form.item_rows = _read_items(form)
        data["rectification_due"] = _instant(
            form.rectification_due.data, context.timezone
        )
    return data


def _read_items(form: TaskForm) -> tuple[list[dict], list[int]]:
    items, rows = [], []
    for row in range(1, RECTIFY_ROWS + 1):
        indicator = form[f"item_{row}_indicator"].data or ""
        description = (form[f"item_{row}_description"].data or "").strip()
        if indicator or description:
            items.append({"indicator": indicator or None, "description": description})
            rows.append(row)
    return items, rows


def _rectification(context: FormContext) -> tuple[type[TaskForm], dict]:
    class RectificationForm(TaskForm):
        pass

    initial = {}
    for item in context.items:
        setattr(
            RectificationForm,
            f"responses_{item.id}",
            TextAreaField(_l("What was done"), render_kw={"rows": 3}),
        )
        initial[f"responses_{item.id}"] = item.response or ""
    return RectificationForm, initial


def _read_rectification(form: TaskForm, context: FormContext) -> dict:
    responses = {
        str(item.id): form[f"responses_{item.id}"].data or "" for item in context.items
    }
    return {"responses": responses}


def _verification(context: FormContext) -> tuple[type[TaskForm], dict]:
    class VerificationForm(TaskForm):
        decision = RadioField(
            _l("Decision"),
            choices=[
                SelectChoice("passed", _l("Rectification passed")),
                SelectChoice("redo", _l("Rectify again")),
            ],
        )
        opinion = TextAreaField(_l("Opinion"), render_kw={"rows": 3})
        rectification_due = StringField(
            _l("New deadline"), render_kw={"type": "datetime-local"}
        )

    for item in context.items:
        setattr(
            VerificationForm,
            f"items_{item.id}_accepted",
            BooleanField(_l("Accepted")),
        )
        setattr(
            VerificationForm, f"items_{item.id}_comment", StringField(_l("Comment"))
        )
    return VerificationForm, {}


def _read_verification(form: TaskForm, context: FormContext) -> dict:
    items = {
        str(item.id): {
            "accepted": bool(form[f"items_{item.id}_accepted"].data),
            "comment": form[f"items_{item.id}_comment"].data or "",
        }
        for item in context.items
    }
    data = {
        "decision": form.decision.data,
        "opinion": form.opinion.data or "",
        "items": items,
    }
    if form.decision.data == "redo":
        data["rectification_due"] = _instant(
            form.rectification_due.data, context.timezone
        )
    return data


def _instant(value: str | None, timezone: str) -> str | None:
    """Read a datetime-local value in the office's zone as an ISO 8601 instant."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        moment = datetime.strptime(value[:16], DATETIME_LOCAL)
    except ValueError:
        return value
    return moment.replace(tzinfo=ZoneInfo(timezone)).isoformat()


def _plain(value) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


_BUILDERS = {
    "unit_submission": _submission,
    "leader_signoff": _signoff,
    "review": _review,
    "rectification": _rectification,
    "verification": _verification,
    "title_propose": partial(title_forms.proposal_form, TaskForm),
    "title_approve": partial(title_forms.approval_form, TaskForm),
    "title_objections": partial(title_forms.objections_form, TaskForm),
    "public_triage": partial(public_forms.triage_form, TaskForm),
    "public_verify": partial(public_forms.verify_form, TaskForm),
    "public_rectify": partial(public_forms.rectify_form, TaskForm),
    "public_check": partial(public_forms.check_form, TaskForm),
    "public_feedback": partial(public_forms.feedback_form, TaskForm),
}
_READERS = {
    "unit_submission": _read_submission,
    "leader_signoff": _read_signoff,
    "review": _read_review,
    "rectification": _read_rectification,
    "verification": _read_verification,
    "title_propose": title_forms.read_proposal,
    "title_approve": title_forms.read_approval,
    "title_objections": title_forms.read_objections,
    "public_triage": public_forms.read_triage,
    "public_verify": public_forms.read_verify,
    "public_rectify": public_forms.read_rectify,
    "public_check": public_forms.read_check,
    "public_feedback": public_forms.read_feedback,
}
