"""The task forms of a public report: triage, verification, rectification, reply."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectChoice, StringField, TextAreaField


def triage_form(task_form: type[FlaskForm], context) -> tuple[type, dict]:
    """Return the office's triage form: accept, or reject with a public reason."""

    class TriageForm(task_form):
        decision = RadioField(
            _l("Triage decision"),
            choices=[
                SelectChoice("accept", _l("Accept: send to the county for checking")),
                SelectChoice("reject", _l("Reject: unfounded or out of scope")),
            ],
        )
        reason = TextAreaField(
            _l("Reason given to the reporter"), render_kw={"rows": 3}
        )

    return TriageForm, {}


def read_triage(form, context) -> dict:
    """Return the triage as the report service reads it."""
    return {"decision": form.decision.data, "reason": form.reason.data or ""}


def verify_form(task_form: type[FlaskForm], context) -> tuple[type, dict]:
    """Return the county's verification form: finding, deduction, title review."""

    class VerifyForm(task_form):
        confirmed = RadioField(
            _l("Is the report confirmed?"),
            choices=[
                SelectChoice("yes", _l("Confirmed")),
                SelectChoice("no", _l("Not confirmed")),
            ],
        )
        findings = TextAreaField(_l("Findings"), render_kw={"rows": 4})
        deduction = RadioField(
            _l("Deduction"),
            choices=[
                SelectChoice("G2", _l("G2 valid public complaint (−2 points)")),
                SelectChoice("none", _l("No deduction")),
            ],
        )
        rectify_days = StringField(
            _l("Days to rectify"),
            render_kw={"type": "number", "min": "1", "max": "90", "step": "1"},
        )
        start_title_review = BooleanField(_l("Start a title review of the unit"))

    return VerifyForm, {"deduction": "G2", "rectify_days": "7"}


def read_verify(form, context) -> dict:
    """Return the verification as the report service reads it."""
    data = {"confirmed": form.confirmed.data, "findings": form.findings.data or ""}
    if form.confirmed.data == "yes":
        data["deduction"] = form.deduction.data
        data["rectify_days"] = (form.rectify_days.data or "").strip()
        data["start_title_review"] = "yes" if form.start_title_review.data else "no"
    return data


def rectify_form(task_form: type[FlaskForm], context) -> tuple[type, dict]:
    """Return the unit's rectification form: the measures taken."""

    class RectifyForm(task_form):
        response = TextAreaField(_l("Measures taken"), render_kw={"rows": 5})

    return RectifyForm, {}


def read_rectify(form, context) -> dict:
    """Return the rectification as the report service reads it."""
    return {"response": form.response.data or ""}


def check_form(task_form: type[FlaskForm], context) -> tuple[type, dict]:
    """Return the county's check of the rectification: accept or send back."""

    class CheckForm(task_form):
        decision = RadioField(
            _l("Rectification check"),
            choices=[
                SelectChoice("accept", _l("Rectified: accept")),
                SelectChoice("return", _l("Not rectified: send back to the unit")),
            ],
        )
        opinion = TextAreaField(_l("Opinion"), render_kw={"rows": 3})

    return CheckForm, {}


def read_check(form, context) -> dict:
    """Return the check as the report service reads it."""
    return {"decision": form.decision.data, "opinion": form.opinion.data or ""}


def feedback_form(task_form: type[FlaskForm], context) -> tuple[type, dict]:
    """Return the office's reply to the reporter, published on the tracking page."""

    class FeedbackForm(task_form):
        reply = TextAreaField(_l("Public reply to the reporter"), render_kw={"rows": 5})

    return FeedbackForm, {}


def read_feedback(form, context) -> dict:
    """Return the reply as the report service reads it."""
    return {"reply": form.reply.data or ""}
