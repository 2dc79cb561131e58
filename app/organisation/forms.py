"""Forms of the organisation pages: offices, units, the unit import and users."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.main.views import ROLE_LABELS
from app.models.organisation import ROLES, TITLE_LEVELS, TITLE_STATUSES
from app.services.organisation_admin import CODE_MAX_CHARS, NAME_MAX_CHARS
from app.titles.views import LEVEL_LABELS as TITLE_LEVEL_LABELS
from app.titles.views import STATUS_LABELS as TITLE_STATUS_LABELS


class CheckboxesField(SelectMultipleField):
    """A multiple choice shown as a list of check boxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class OfficeForm(FlaskForm):
    """An office's name, code and time zone."""

    name = StringField(
        _l("Office name"), validators=[DataRequired(), Length(max=NAME_MAX_CHARS)]
    )
    code = StringField(
        _l("Office code"), validators=[DataRequired(), Length(max=CODE_MAX_CHARS)]
    )
    timezone = StringField(
        _l("Time zone"),
        default="Asia/Shanghai",
        validators=[DataRequired(), Length(max=64)],
        render_kw={"list": "timezones", "autocomplete": "off", "spellcheck": "false"},
    )


class UnitForm(FlaskForm):
    """A unit, its managing office and its title."""

    name = StringField(
        _l("Unit name"), validators=[DataRequired(), Length(max=NAME_MAX_CHARS)]
    )
    code = StringField(
        _l("Unit code"), validators=[DataRequired(), Length(max=CODE_MAX_CHARS)]
    )
    unit_type = StringField(
        _l("Unit type"),
        validators=[DataRequired(), Length(max=40)],
        render_kw={"list": "unit-types", "autocomplete": "off"},
    )
    office_code = SelectField(_l("Managing office"), validate_choice=False)
    target_level = SelectField(
        _l("Target title level"),
        choices=[
            SelectChoice(level, TITLE_LEVEL_LABELS[level]) for level in TITLE_LEVELS
        ],
    )
    title_level = SelectField(
        _l("Held title level"),
        choices=[SelectChoice("", _l("No title"))]
        + [SelectChoice(level, TITLE_LEVEL_LABELS[level]) for level in TITLE_LEVELS],
    )
    title_status = SelectField(
        _l("Title status"),
        choices=[
            SelectChoice(status, TITLE_STATUS_LABELS[status])
            for status in TITLE_STATUSES
        ],
    )
    term_start = DateField(_l("Term start"), validators=[Optional()])
    term_end = DateField(_l("Term end"), validators=[Optional()])
    needs_leader_signoff = BooleanField(
        _l("The unit leader signs off submissions before they leave the unit")
    )
    note = TextAreaField(
        _l("Reason for a change of title"),
        validators=[Optional(), Length(max=500)],
        render_kw={"rows": 2, "maxlength": 500},
    )


class ImportForm(FlaskForm):
    """A workbook of units to add or change."""

    workbook = FileField(
        _l("Workbook (.xlsx)"),
        validators=[FileRequired(_l("Choose a workbook to upload."))],
        render_kw={"accept": ".xlsx"},
    )


class UserForm(FlaskForm):
    """An account's name, e-mail address, roles and office or unit."""

    display_name = StringField(
        _l("Display name"), validators=[DataRequired(), Length(max=120)]
    )
    email = StringField(
        _l("E-mail address"),
        validators=[Optional(), Length(max=255)],
        render_kw={"type": "email", "autocomplete": "off"},
    )
    roles = CheckboxesField(
        _l("Roles"),
        choices=[SelectChoice(role, ROLE_LABELS[role]) for role in ROLES],
        validators=[DataRequired(_l("Choose at least one role."))],
    )
    office_code = SelectField(_l("Office"), validate_choice=False)
    unit_code = StringField(
        _l("Unit code"),
        validators=[Optional(), Length(max=CODE_MAX_CHARS)],
        render_kw={"list": "unit-codes", "autocomplete": "off"},
    )


class NewUserForm(UserForm):
    """A new account: the user name comes first and cannot change later."""

    username = StringField(
        _l("User name"),
        validators=[DataRequired(), Length(max=80)],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
