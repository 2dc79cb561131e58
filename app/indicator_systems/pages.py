"""What the indicator system pages share: refusals, forms, problems, downloads.

Refusals here are in the reader's language; the services check the same rules again
inside each step, so a page and the JSON error of a service never disagree.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Response, flash, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from app.extensions import db
from app.indicator_systems.forms import IndicatorForm
from app.models import IndicatorSystem
from app.services import indicator_admin
from app.services.base import transaction
from processes.errors import Conflict, Forbidden, InvalidInput, NotFound

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def version_label(system: IndicatorSystem) -> str:
    """Return a version as the choice lists name it."""
    state = _("published") if system.published else _("draft")
    return f"{system.name} ({system.code} v{system.version}, {state})"


def tree_rows(system: IndicatorSystem) -> list[dict]:
    """Return the tree in display order with each category's total and neighbours."""
    rows = []
    categories = [i for i in system.indicators if i.kind == "category"]
    for number, category in enumerate(categories):
        items = [i for i in system.indicators if i.parent_id == category.id]
        rows.append(
            {
                "item": category,
                "total": sum(i.points for i in items),
                "first": number == 0,
                "last": number == len(categories) - 1,
            }
        )
        for place, item in enumerate(items):
            rows.append(
                {"item": item, "first": place == 0, "last": place == len(items) - 1}
            )
    return rows


def xlsx(content: bytes, ascii_name: str, name: str) -> Response:
    """Return a workbook download with an ASCII and a UTF-8 file name."""
    response = Response(content, mimetype=XLSX_TYPE)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    )
    return response


def draft_or_refuse(system_id: int) -> IndicatorSystem:
    """Return a draft the user may change; refuse in the user's language."""
    system = indicator_admin.visible_system(db.session, current_user, system_id)
    require_manager(system)
    if system.published:
        raise Conflict(
            _(
                "Version %(version)s is published and never changes; make a new "
                "version to change it.",
                version=system.version,
            )
        )
    return system


def require_manager(system: IndicatorSystem) -> None:
    """Refuse, in the reader's language, users who may not change the system."""
    if not indicator_admin.can_manage(current_user, system.office):
        raise Forbidden(
            _(
                "Only an administrator of %(office)s or an office above it "
                "changes its indicator systems.",
                office=system.office.name,
            )
        )


def item_of(system: IndicatorSystem, item_id: int, kind: str):
    """Return a category or indicator of the version, else raise NotFound."""
    for item in system.indicators:
        if item.id == item_id and (item.kind == "category") == (kind == "category"):
            return item
    raise NotFound(_("This item is not part of the version."))


def offer_categories(form: IndicatorForm, system: IndicatorSystem) -> None:
    """Offer the version's categories as the indicator's parent."""
    form.category_id.choices = [
        SelectChoice(i.id, f"{i.code} {i.name}")
        for i in system.indicators
        if i.kind == "category"
    ]


def saved(form, change) -> bool:
    """Run a change as one step; put the service's refusals on the form."""
    try:
        with transaction(db.session):
            change()
    except InvalidInput as error:
        put_on_form(form, error)
        return False
    return True


def put_on_form(form, error: InvalidInput) -> None:
    """Put each problem of a refusal on its field, or above the form."""
    for problem in error.details.get("problems") or []:
        field = getattr(form, problem.get("field") or "", None)
        if field is not None and hasattr(field, "errors"):
            field.errors.append(say(problem))
        else:
            form.form_errors.append(say(problem))
    if not error.details.get("problems"):
        form.form_errors.append(error.message)


def form_page(template_name: str, form, system: IndicatorSystem, **context):
    """Render a form page; a refused post answers 422 with a flash."""
    if request.method == "POST":
        flash(_("Nothing was saved; correct the marked fields."), "error")
    status = 422 if request.method == "POST" else 200
    page = render_template(template_name, form=form, system=system, **context)
    return page, status


def say(problem: dict) -> str:
    """Translate a problem; a workbook's problem names its row and column."""
    text = _(problem["message"], **problem.get("values", {}))
    row, column = problem.get("row"), problem.get("field")
    if row is not None and column:
        return _(
            "row %(row)d, column %(column)s: %(problem)s",
            row=row,
            column=column,
            problem=text,
        )
    if row is not None:
        return _("row %(row)d: %(problem)s", row=row, problem=text)
    return text
