"""The forms of the public site: the report form and the office's article form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    MultipleFileField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)

CATEGORY_LABELS = {
    "service_attitude": _l("Service attitude"),
    "environment": _l("Environment and hygiene"),
    "integrity": _l("Integrity and honesty"),
    "safety": _l("Safety"),
    "other": _l("Other problem"),
}


class ReportForm(FlaskForm):
    """A member of the public reports a problem with a titled unit."""

    unit_id = SelectField(_l("Unit concerned"), validate_choice=False)
    category = SelectField(
        _l("Kind of problem"),
        choices=[SelectChoice(k, v) for k, v in CATEGORY_LABELS.items()],
        validate_choice=False,
    )
    description = TextAreaField(
        _l("What happened"), render_kw={"rows": 6, "maxlength": "2000"}
    )
    photos = MultipleFileField(
        _l("Photos (optional, at most 3)"),
        render_kw={"accept": "image/jpeg,image/png,image/webp"},
    )
    contact_name = StringField(
        _l("Your name (optional)"), render_kw={"maxlength": "60"}
    )
    contact_phone = StringField(
        _l("Phone (optional)"), render_kw={"maxlength": "20", "inputmode": "tel"}
    )
    contact_email = StringField(
        _l("E-mail (optional)"), render_kw={"maxlength": "200", "type": "email"}
    )
    # People never see this field; a robot filling every input fills it too.
    website = StringField(
        _l("Leave this field empty"),
        render_kw={"autocomplete": "off", "tabindex": "-1"},
    )
    challenge_token = HiddenField()
    challenge_answer = StringField(
        _l("Answer"), render_kw={"inputmode": "numeric", "autocomplete": "off"}
    )


class TrackForm(FlaskForm):
    """Enter a tracking code to follow a report."""

    code = StringField(
        _l("Tracking code"), render_kw={"autocomplete": "off", "spellcheck": "false"}
    )


class ArticleForm(FlaskForm):
    """An office writes or edits an article for the public site."""

    office_id = SelectField(_l("Publishing office"), validate_choice=False)
    title = StringField(_l("Article title"), render_kw={"maxlength": "200"})
    summary = TextAreaField(_l("Summary"), render_kw={"rows": 2, "maxlength": "500"})
    body = TextAreaField(_l("Body (Markdown)"), render_kw={"rows": 14})
