"""Forms of the results pages: closing a cycle and recording a deduction."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired

KIND_LABELS = {
    "problem": _l("Problem found on inspection"),
    "complaint": _l("Valid public complaint"),
    "incident": _l("Negative incident"),
    "veto": _l("Veto item"),
}


class CloseForm(FlaskForm):
    """The confirmation a person gives before a cycle is closed and scored."""

    confirm = BooleanField(
        _l("I understand that closing scores every unit of this cycle now"),
        validators=[DataRequired(_l("Tick the box to confirm closing the cycle."))],
    )


class DeductionForm(FlaskForm):
    """A deduction or veto against a unit; the scoring service checks the values."""

    unit_id = SelectField(_l("Unit"), coerce=str, validate_choice=False)
    kind = SelectField(
        _l("Kind"),
        choices=[SelectChoice(kind, label) for kind, label in KIND_LABELS.items()],
        validate_choice=False,
    )
    indicator_code = SelectField(_l("Item"), validate_choice=False)
    count = StringField(_l("Count"), default="1")
    points = StringField(_l("Points (per item, or of the incident)"))
    self_reported = BooleanField(_l("The unit reported the incident itself"))
    description = TextAreaField(_l("Description"))
