"""Forms of the cycle pages: opening a cycle by hand and keeping a schedule."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
)
from wtforms.widgets import CheckboxInput, ListWidget

from app.models.cycle import RECURRENCES
from app.services.cycles import TITLE_LEVEL_FILTERS
from app.services.schedules import WINDOW_MAX_DAYS

LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
RECURRENCE_LABELS = {
    "yearly": _l("Every year on a date"),
    "quarterly": _l("Every quarter (January, April, July, October)"),
    "monthly": _l("Every month on a day"),
    "cron": _l("Cron expression"),
}
TITLE_FILTER_LABELS = {
    "county": _l("County-level title"),
    "city": _l("City-level title"),
    "province": _l("Province-level title"),
    "national": _l("National title"),
    "none": _l("No title yet"),
}


class CheckboxesField(SelectMultipleField):
    """A multiple choice shown as a list of check boxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class _UnitChoice:
    """Which units a cycle is for, shared by the cycle and the schedule forms."""

    unit_types = CheckboxesField(_l("Unit types"), validate_choice=False)
    title_levels = CheckboxesField(
        _l("Title levels"),
        choices=[
            SelectChoice(level, TITLE_FILTER_LABELS[level])
            for level in TITLE_LEVEL_FILTERS
        ],
    )
    reminder_lead = StringField(
        _l("Remind before each deadline"),
        default="P2D",
        validators=[DataRequired(), Length(max=20)],
    )
    auto_close = BooleanField(_l("Close and score at the province review deadline"))


class CycleForm(_UnitChoice, FlaskForm):
    """Open a cycle now for an office's subtree with its deadlines."""

    name = StringField(_l("Cycle name"), validators=[DataRequired(), Length(max=100)])
    office_id = SelectField(_l("Office"), coerce=int, validate_choice=False)
    indicator_system_id = SelectField(
        _l("Indicator system"), coerce=int, validate_choice=False
    )
    submission_due = DateTimeLocalField(
        _l("Submission due"), format=LOCAL_FORMAT, validators=[InputRequired()]
    )
    county_review_due = DateTimeLocalField(
        _l("County review due"), format=LOCAL_FORMAT, validators=[InputRequired()]
    )
    city_review_due = DateTimeLocalField(
        _l("City review due"), format=LOCAL_FORMAT, validators=[InputRequired()]
    )
    province_review_due = DateTimeLocalField(
        _l("Province review due"), format=LOCAL_FORMAT, validators=[InputRequired()]
    )


def _days(label, default: int) -> IntegerField:
    return IntegerField(
        label,
        default=default,
        validators=[InputRequired(), NumberRange(min=1, max=WINDOW_MAX_DAYS)],
    )


class ScheduleForm(_UnitChoice, FlaskForm):
    """A schedule: which cycle an office opens, when, and its windows."""

    name = StringField(
        _l("Schedule name"), validators=[DataRequired(), Length(max=100)]
    )
    office_id = SelectField(_l("Office"), coerce=int, validate_choice=False)
    indicator_system_id = SelectField(
        _l("Indicator system"), coerce=int, validate_choice=False
    )
    recurrence = SelectField(
        _l("Recurrence"),
        choices=[SelectChoice(key, RECURRENCE_LABELS[key]) for key in RECURRENCES],
    )
    month = IntegerField(_l("Month"), validators=[Optional()])
    day = IntegerField(_l("Day of the month"), validators=[Optional()])
    hour = IntegerField(_l("Hour (local time)"), default=8, validators=[Optional()])
    cron = StringField(_l("Cron expression"), validators=[Length(max=120)])
    submission_days = _days(_l("Submission window (days)"), 30)
    county_review_days = _days(_l("County review window (days)"), 15)
    city_review_days = _days(_l("City review window (days)"), 10)
    province_review_days = _days(_l("Province review window (days)"), 10)
