"""The task forms of a title review: proposal, approval, decision on objections."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice, StringField, TextAreaField

PROPOSAL_CHOICES = (
    ("keep", _l("Keep the title")),
    ("yellow_card", _l("Yellow card warning")),
    ("rectify", _l("Rectify within a term")),
    ("revoke", _l("Revoke the title")),
)


def proposal_form(task_form: type[FlaskForm], context) -> tuple[type, dict]:
    """Return the county's proposal form: decision, days to rectify, reason."""

    class ProposalForm(task_form):
        proposal = RadioField(
            _l("Proposal"),
            choices=[SelectChoice(value, label) for value, label in PROPOSAL_CHOICES],
        )
        rectify_days = StringField(
            _l("Days to rectify"),
            render_kw={"type": "number", "min": "1", "max": "365", "step": "1"},
        )
        reason = TextAreaField(_l("Reasons"), render_kw={"rows": 4})

    return ProposalForm, {}


def read_proposal(form, context) -> dict:
    """Return the proposal as the title service reads it."""
    data = {"proposal": form.proposal.data, "reason": form.reason.data or ""}
    if form.proposal.data == "rectify":
        data["rectify_days"] = (form.rectify_days.data or "").strip()
    return data


def approval_form(task_form: type[FlaskForm], context) -> tuple[type, dict]:
    """Return the city's approval form: approve or send back, with an opinion."""

    class ApprovalForm(task_form):
        decision = RadioField(
            _l("Decision"),
            choices=[
                SelectChoice("approve", _l("Approve for public notice")),
                SelectChoice("return", _l("Send back to the county")),
            ],
        )
        opinion = TextAreaField(_l("Opinion"), render_kw={"rows": 4})

    return ApprovalForm, {}


def read_approval(form, context) -> dict:
    """Return the approval as the title service reads it."""
    return {"decision": form.decision.data, "opinion": form.opinion.data or ""}


def objections_form(task_form: type[FlaskForm], context) -> tuple[type, dict]:
    """Return the city's decision on objections: uphold, or change the proposal."""

    class ObjectionsForm(task_form):
        decision = RadioField(
            _l("Decision"),
            choices=[
                SelectChoice("uphold", _l("Uphold the proposal")),
                SelectChoice("change", _l("Change the proposal")),
            ],
        )
        proposal = RadioField(
            _l("New proposal"),
            choices=[SelectChoice(value, label) for value, label in PROPOSAL_CHOICES],
        )
        rectify_days = StringField(
            _l("Days to rectify"),
            render_kw={"type": "number", "min": "1", "max": "365", "step": "1"},
        )
        opinion = TextAreaField(_l("Opinion"), render_kw={"rows": 4})

    return ObjectionsForm, {}


def read_objections(form, context) -> dict:
    """Return the decision on objections as the title service reads it."""
    data = {"decision": form.decision.data, "opinion": form.opinion.data or ""}
    if form.decision.data == "change":
        data["proposal"] = form.proposal.data
        data["rectify_days"] = (form.rectify_days.data or "").strip()
    return data
