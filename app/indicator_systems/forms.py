"""Forms of the indicator system pages: a system's settings, its tree, a workbook."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    BooleanField,
    DecimalField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
)

from app.models.indicators import ITEM_KINDS, METHODS
from app.services.indicator_rules import (
    CODE_MAX_CHARS,
    EVIDENCE_MAX_COUNT,
    EXPLANATION_MAX_CHARS,
    GUIDANCE_MAX_CHARS,
    NAME_MAX_CHARS,
    POINTS_MAX,
    SYSTEM_CODE_MAX_CHARS,
    SYSTEM_NAME_MAX_CHARS,
    CategorySpec,
    IndicatorSpec,
    SettingsSpec,
)

KIND_LABELS = {
    "base": _l("Base indicators"),
    "bonus": _l("Bonus items"),
    "deduction": _l("Deduction items"),
    "veto": _l("Veto items"),
}
METHOD_LABELS = {
    "materials": _l("Materials review"),
    "on_site": _l("On-site inspection"),
    "questionnaire": _l("Questionnaire"),
    "online": _l("Online check"),
}


def _points(label, default, *, required: bool = True) -> DecimalField:
    checks = [InputRequired()] if required else [Optional()]
    return DecimalField(
        label,
        default=default,
        places=2,
        validators=[*checks, NumberRange(min=0, max=POINTS_MAX)],
    )


def _count(label, default: int, maximum: int) -> IntegerField:
    return IntegerField(
        label,
        default=default,
        validators=[InputRequired(), NumberRange(min=0, max=maximum)],
    )


class SettingsForm(FlaskForm):
    """A version's settings: name, base points, bonus cap, grades, late points."""

    name = StringField(
        _l("System name"),
        validators=[DataRequired(), Length(max=SYSTEM_NAME_MAX_CHARS)],
    )
    base_points = _points(_l("Base points"), 100)
    bonus_cap = _points(_l("Bonus cap"), 10)
    model_threshold = _points(_l("Model unit from (points)"), 95)
    keep_threshold = _points(_l("Keeps the title from (points)"), 85)
    late_points_per_day = _points(_l("Late submission: points per day"), 1)
    late_points_cap = _points(_l("Late submission: at most (points)"), 5)

    def spec(self) -> SettingsSpec:
        """Return the settings as the service reads them."""
        return SettingsSpec(
            name=self.name.data.strip(),
            base_points=self.base_points.data,
            bonus_cap=self.bonus_cap.data,
            model_threshold=self.model_threshold.data,
            keep_threshold=self.keep_threshold.data,
            late_points_per_day=self.late_points_per_day.data,
            late_points_cap=self.late_points_cap.data,
        )


class NewSystemForm(SettingsForm):
    """A new system: its code and office, settings, and an optional start."""

    code = StringField(
        _l("Code"), validators=[DataRequired(), Length(max=SYSTEM_CODE_MAX_CHARS)]
    )
    office_id = SelectField(_l("Office"), coerce=int, validate_choice=False)
    start_from = SelectField(_l("Start from"), coerce=int, validate_choice=False)


class CategoryForm(FlaskForm):
    """A category: code, name and the kind its indicators carry."""

    code = StringField(
        _l("Code"), validators=[DataRequired(), Length(max=CODE_MAX_CHARS)]
    )
    name = StringField(
        _l("Category name"), validators=[DataRequired(), Length(max=NAME_MAX_CHARS)]
    )
    kind = SelectField(
        _l("Its indicators are"),
        choices=[SelectChoice(kind, KIND_LABELS[kind]) for kind in ITEM_KINDS],
    )

    def spec(self) -> CategorySpec:
        """Return the category as the service reads it."""
        return CategorySpec(
            code=self.code.data.strip(),
            name=self.name.data.strip(),
            kind=self.kind.data,
        )


class IndicatorForm(FlaskForm):
    """An indicator: points, method and the evidence a unit must give."""

    category_id = SelectField(_l("Category"), coerce=int, validate_choice=False)
    code = StringField(
        _l("Code"), validators=[DataRequired(), Length(max=CODE_MAX_CHARS)]
    )
    name = StringField(
        _l("Indicator name"), validators=[DataRequired(), Length(max=NAME_MAX_CHARS)]
    )
    points = _points(_l("Points"), 0)
    per_item_points = _points(_l("Points per item"), None, required=False)
    method = SelectField(
        _l("Method"),
        choices=[SelectChoice(method, METHOD_LABELS[method]) for method in METHODS],
    )
    office_only = BooleanField(_l("Scored by the office only"))
    min_photos = _count(_l("Photos, at least"), 0, EVIDENCE_MAX_COUNT)
    min_documents = _count(_l("Documents, at least"), 0, EVIDENCE_MAX_COUNT)
    min_explanation_chars = _count(
        _l("Explanation, at least (characters)"), 0, EXPLANATION_MAX_CHARS
    )
    max_explanation_chars = _count(
        _l("Explanation, at most (characters)"), 500, EXPLANATION_MAX_CHARS
    )
    guidance = TextAreaField(
        _l("Guidance for the unit"), validators=[Length(max=GUIDANCE_MAX_CHARS)]
    )

    def spec(self) -> IndicatorSpec:
        """Return the indicator as the service reads it."""
        return IndicatorSpec(
            code=self.code.data.strip(),
            name=self.name.data.strip(),
            points=self.points.data,
            per_item_points=self.per_item_points.data,
            method=self.method.data,
            office_only=self.office_only.data,
            min_photos=self.min_photos.data,
            min_documents=self.min_documents.data,
            min_explanation_chars=self.min_explanation_chars.data,
            max_explanation_chars=self.max_explanation_chars.data,
            guidance=(self.guidance.data or "").strip(),
        )


class ImportForm(FlaskForm):
    """A filled workbook that replaces a draft's tree."""

    workbook = FileField(
        _l("Workbook (.xlsx)"),
        validators=[
            FileRequired(_l("Choose a workbook to upload.")),
            FileAllowed(["xlsx"], _l("Upload an Excel workbook ending in .xlsx.")),
        ],
    )
