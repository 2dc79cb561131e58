"""Forms of the ledger pages; the ledger service checks every value."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TextAreaField


class EntryForm(FlaskForm):
    """One activity as a liaison records it."""

    occurred_on = StringField(_l("Date of the activity"), render_kw={"type": "date"})
    indicator_id = SelectField(_l("Indicator"), validate_choice=False)
    title = StringField(_l("Activity title"), render_kw={"maxlength": 200})
    description = TextAreaField(
        _l("What was done in the activity"), render_kw={"rows": 5, "maxlength": 5000}
    )
    participants = StringField(
        _l("Participants"),
        default="0",
        render_kw={"type": "number", "min": "0", "step": "1", "inputmode": "numeric"},
    )
    volunteer_hours = StringField(
        _l("Volunteer hours in total"),
        default="0",
        render_kw={
            "type": "number",
            "min": "0",
            "step": "0.1",
            "inputmode": "decimal",
        },
    )
    place = StringField(_l("Place of the activity"), render_kw={"maxlength": 200})


class ActionForm(FlaskForm):
    """A button that changes an entry: delete, remove a file, mark good practice."""

    value = HiddenField()
