"""Wording the refusals of the organisation services in the reader's language.

The services describe each problem by a kind and its values; these are the
sentences people read. A kind without a sentence here falls back to the
service's own English message.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.main.views import LEVEL_LABELS as OFFICE_LEVEL_LABELS
from app.titles.views import STATUS_LABELS as TITLE_STATUS_LABELS
from processes.errors import WenmingError

PROBLEM_TEXTS = {
    "required": _l("This field is required."),
    "too_long": _l("Use at most %(limit)d characters."),
    "choice": _l("“%(value)s” is not one of the choices."),
    "date": _l("“%(value)s” is not a date such as 2026-01-31."),
    "yes_no": _l("“%(value)s” is neither yes nor no."),
    "term_order": _l("The term ends before it starts."),
    "level_needed": _l("A unit whose title status is %(status)s needs a title level."),
    "unit_code_taken": _l("%(value)s is used by another unit."),
    "office_code_taken": _l("%(value)s is used by another office."),
    "repeated": _l("%(value)s is already the code of row %(row)d."),
    "office_unknown": _l("No office of your area has the code %(value)s."),
    "unit_unknown": _l("No unit of your area has the code %(value)s."),
    "timezone": _l("“%(value)s” is not a time zone name such as Asia/Shanghai."),
    "no_child_offices": _l("%(level)s offices have no offices under them."),
    "wrong_level": _l(
        "Level %(level)s does not follow the parent office; an office here has "
        "level %(expected)s."
    ),
    "province_office": _l("Only a system administrator adds a province office."),
    "running_work": _l(
        "The unit has %(count)d running procedures (creation tasks or title "
        "reviews); it can move to another office once they have finished."
    ),
    "title_under_review": _l(
        "A title review of this unit is under way; its title changes through "
        "that review."
    ),
    "no_spaces": _l("A user name has no spaces."),
    "username_taken": _l("The user name %(value)s is taken."),
    "email": _l("“%(value)s” is not an e-mail address."),
    "roles": _l("Choose at least one role from the list."),
    "admin_grant": _l("Only a system administrator grants the administrator role."),
    "mixed_roles": _l(
        "Office roles and unit roles do not go together: a person works for an "
        "office or for a unit."
    ),
    "unit_needed": _l("Liaisons and unit leaders need a unit."),
    "office_needed": _l("Reviewers and office administrators need an office."),
    "scope_both": _l("A person belongs to an office or to a unit, not both."),
    "own_admin": _l(
        "You cannot remove your own administrator role; ask another administrator."
    ),
    "own_scope": _l(
        "You cannot move your own account; ask an administrator above you."
    ),
    "admin_account": _l(
        "Only a system administrator changes the account of a system administrator."
    ),
    "self_deactivate": _l("You cannot deactivate your own account."),
    "not_admin": _l(
        "Organisation administration is for office administrators and system "
        "administrators."
    ),
    "too_many_rows": _l(
        "A workbook holds at most %(limit)d units; split it into several."
    ),
    "not_workbook": _l("The file is not an Excel workbook (.xlsx)."),
    "missing_columns": _l("The header row lacks these columns: %(columns)s."),
    "no_rows": _l("The workbook has no unit rows below its header row."),
    "file_too_large": _l("The workbook is larger than %(limit)d MB."),
}

# Values that are stored codes, shown by their labels.
VALUE_LABELS = {
    "level": OFFICE_LEVEL_LABELS,
    "expected": OFFICE_LEVEL_LABELS,
    "status": TITLE_STATUS_LABELS,
}


def problem_text(kind: dict | None, fallback: str) -> str:
    """Return the sentence for a problem kind and its values, else the fallback."""
    if not kind or kind.get("kind") not in PROBLEM_TEXTS:
        return fallback
    values = {
        name: str(VALUE_LABELS[name].get(value, value))
        if name in VALUE_LABELS
        else value
        for name, value in kind.items()
        if name != "kind"
    }
    try:
        return str(PROBLEM_TEXTS[kind["kind"]]) % values
    except (KeyError, TypeError, ValueError):
        return fallback


def field_texts(error: WenmingError) -> dict[str, str]:
    """Return the per-field sentences of a refusal that names fields."""
    kinds = error.details.get("kinds", {})
    errors = error.details.get("errors", {})
    return {name: problem_text(kinds.get(name), text) for name, text in errors.items()}


def error_text(error: WenmingError) -> str:
    """Return the sentence of a refusal as a whole."""
    return problem_text(error.details, error.message)


def show_on_form(form, error: WenmingError) -> None:
    """Put a refusal on the form: each problem at its field, the rest on top."""
    texts = field_texts(error)
    if not texts:
        form.form_errors.append(error_text(error))
        return
    for name, text in texts.items():
        target = getattr(form, name, None)
        if target is not None and hasattr(target, "errors"):
            target.errors = [*target.errors, text]
        else:
            form.form_errors.append(text)
