"""Indicator systems administration pages: versions, their tree, checks, workbooks."""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from wtforms import SelectChoice

from app.extensions import db
from app.indicator_systems import pages
from app.indicator_systems.forms import (
    KIND_LABELS,
    METHOD_LABELS,
    CategoryForm,
    ImportForm,
    IndicatorForm,
    NewSystemForm,
    SettingsForm,
)
from app.indicator_systems.workbook import system_workbook, template_workbook
from app.models import IndicatorSystem
from app.services import (
    indicator_admin,
    indicator_tree,
    indicator_values,
    indicator_workbook,
)
from app.services.base import transaction
from app.services.indicator_rules import plain_points
from processes.errors import Conflict, Forbidden, InvalidInput

logger = logging.getLogger(__name__)

bp = Blueprint(
    "indicator_systems",
    __name__,
    url_prefix="/admin/indicators",
    template_folder="templates",
)


@bp.context_processor
def page_helpers() -> dict:
    """Give the area's templates a way to show points without trailing zeros."""
    return {"points": plain_points}


@bp.before_request
def require_office_staff() -> None:
    """Refuse unit users before any page of the area; signing in comes first."""
    if not current_user.is_authenticated:
        return
    if current_user.unit_id is not None or current_user.scope_path is None:
        raise Forbidden(
            _(
                "Indicator systems are kept by office staff; your tasks are in the "
                "inbox."
            )
        )


@bp.get("/")
@login_required
def index() -> str:
    """List the systems the user sees, each with its versions."""
    lines = indicator_admin.system_lines(db.session, current_user)
    offices = indicator_admin.managed_offices(db.session, current_user)

    return render_template(
        "indicator_systems/index.html",
        lines=lines,
        may_create=bool(offices),
        may_manage={
            line.code: indicator_admin.can_manage(current_user, line.latest.office)
            for line in lines
        },
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> str | Response:
    """Create a system as a draft, empty or copied from a version the user sees."""
    form = NewSystemForm()
    versions = _offer_choices(form)
    if request.method == "GET":
        _prefill_from(form, versions, request.args.get("start_from", type=int))
    if form.validate_on_submit():
        system = _create_from(form, versions)
        if system is not None:
            flash(
                _("The draft is created; add its categories and indicators."), "success"
            )
            return redirect(url_for("indicator_systems.show", system_id=system.id))
    if request.method == "POST":
        flash(_("The system was not created; correct the marked fields."), "error")

    status = 422 if request.method == "POST" else 200
    return render_template("indicator_systems/new.html", form=form), status


def _offer_choices(form: NewSystemForm) -> dict[int, IndicatorSystem]:
    """Fill the office and start choices; refuse users who manage no office."""
    offices = indicator_admin.managed_offices(db.session, current_user)
    if not offices:
        raise Forbidden(_("Only office administrators create indicator systems."))
    form.office_id.choices = [SelectChoice(o.id, o.name) for o in offices]
    versions = indicator_admin.visible_versions(db.session, current_user)
    form.start_from.choices = [SelectChoice(0, _("Nothing: an empty tree"))] + [
        SelectChoice(v.id, pages.version_label(v)) for v in versions
    ]
    return {v.id: v for v in versions}


def _prefill_from(form, versions: dict[int, IndicatorSystem], start_id) -> None:
    source = versions.get(start_id)
    if source is None:
        return
    form.start_from.data = source.id
    for name, value in vars(indicator_values.settings_of(source)).items():
        getattr(form, name).data = value


def _create_from(form: NewSystemForm, versions) -> IndicatorSystem | None:
    """Create the form's system; put the service's refusals on the form."""
    offices = indicator_admin.managed_offices(db.session, current_user)
    office = next((o for o in offices if o.id == form.office_id.data), None)
    if office is None:
        form.office_id.errors.append(_("Choose an office from the list."))
        return None
    if form.start_from.data and form.start_from.data not in versions:
        form.start_from.errors.append(_("Choose a version from the list."))
        return None
    try:
        with transaction(db.session):
            return indicator_admin.create_system(
                db.session,
                current_user,
                code=form.code.data,
                office=office,
                settings=form.spec(),
                start_from=versions.get(form.start_from.data),
            )
    except InvalidInput as error:
        pages.put_on_form(form, error)
    except Conflict:
        form.code.errors.append(_("This code was just taken; choose another."))
    return None


@bp.get("/<int:system_id>")
@login_required
def show(system_id: int) -> str:
    """Show a version: settings, tree, checks, and what the user may do with it."""
    system = indicator_admin.visible_system(db.session, current_user, system_id)
    return _show_page(system)


def _show_page(system: IndicatorSystem, import_errors: list[str] | None = None):
    """Render a version's page, with the problems of a refused import if any."""
    may_manage = indicator_admin.can_manage(current_user, system.office)
    problems = [] if system.published else indicator_admin.check_version(system)
    line = indicator_admin.system_line(db.session, current_user, system.code)

    return render_template(
        "indicator_systems/show.html",
        system=system,
        settings=indicator_values.settings_of(system),
        rows=pages.tree_rows(system),
        problems=[pages.say(p.as_dict()) for p in problems],
        may_edit=may_manage and not system.published,
        may_new_version=(
            may_manage and line.draft is None and line.latest.id == system.id
        ),
        versions=line.versions,
        cycles=line.cycles.get(system.id, 0),
        import_form=ImportForm(),
        import_errors=import_errors or [],
        kind_labels=KIND_LABELS,
        method_labels=METHOD_LABELS,
    )


@bp.route("/<int:system_id>/settings", methods=["GET", "POST"])
@login_required
def settings(system_id: int) -> str | Response:
    """Change a draft's name, base points, bonus cap, grades and late points."""
    system = pages.draft_or_refuse(system_id)
    form = SettingsForm()
    if request.method == "GET":
        for name, value in vars(indicator_values.settings_of(system)).items():
            getattr(form, name).data = value
    if form.validate_on_submit() and pages.saved(
        form,
        lambda: indicator_admin.update_settings(
            db.session, current_user, system_id, form.spec()
        ),
    ):
        flash(_("The settings are saved."), "success")
        return redirect(url_for("indicator_systems.show", system_id=system_id))
    return pages.form_page("indicator_systems/settings.html", form, system)


@bp.post("/<int:system_id>/versions")
@login_required
def new_version(system_id: int) -> Response:
    """Copy the newest version of the system into a new draft."""
    system = indicator_admin.visible_system(db.session, current_user, system_id)
    pages.require_manager(system)
    try:
        with transaction(db.session):
            draft = indicator_admin.new_version(db.session, current_user, system_id)
    except Conflict:
        flash(
            _(
                "This system already has a draft; publish or delete it before "
                "making another version."
            ),
            "error",
        )
        return redirect(url_for("indicator_systems.index"))
    flash(
        _(
            "Version %(version)s is a draft copied from the newest version.",
            version=draft.version,
        ),
        "success",
    )
    return redirect(url_for("indicator_systems.show", system_id=draft.id))


@bp.post("/<int:system_id>/publish")
@login_required
def publish(system_id: int) -> Response:
    """Publish a draft that passes its checks; cycles can then use it."""
    system = pages.draft_or_refuse(system_id)
    try:
        with transaction(db.session):
            indicator_admin.publish(db.session, current_user, system_id)
    except InvalidInput:
        flash(
            _(
                "Version %(version)s was not published: correct the problems "
                "listed under Checks.",
                version=system.version,
            ),
            "error",
        )
    else:
        flash(
            _(
                "Version %(version)s is published; cycles can use it now.",
                version=system.version,
            ),
            "success",
        )
    return redirect(url_for("indicator_systems.show", system_id=system_id))


@bp.post("/<int:system_id>/delete")
@login_required
def delete(system_id: int) -> Response:
    """Delete a draft and its tree."""
    system = pages.draft_or_refuse(system_id)
    label = pages.version_label(system)
    with transaction(db.session):
        indicator_admin.delete_draft(db.session, current_user, system_id)
    flash(_("The draft %(label)s is deleted.", label=label), "success")
    return redirect(url_for("indicator_systems.index"))


@bp.route("/<int:system_id>/categories/new", methods=["GET", "POST"])
@login_required
def category_new(system_id: int) -> str | Response:
    """Add a category at the end of a draft's tree."""
    system = pages.draft_or_refuse(system_id)
    form = CategoryForm()
    if form.validate_on_submit() and pages.saved(
        form,
        lambda: indicator_tree.add_category(
            db.session, current_user, system_id, form.spec()
        ),
    ):
        flash(_("The category %(code)s is added.", code=form.code.data), "success")
        return redirect(url_for("indicator_systems.show", system_id=system_id))
    return pages.form_page("indicator_systems/category_form.html", form, system)


@bp.route("/<int:system_id>/categories/<int:item_id>", methods=["GET", "POST"])
@login_required
def category_edit(system_id: int, item_id: int) -> str | Response:
    """Change a category; its indicators take its kind."""
    system = pages.draft_or_refuse(system_id)
    category = pages.item_of(system, item_id, "category")
    form = CategoryForm(obj=category)
    if request.method == "GET":
        form.kind.data = category.item_kind
    if form.validate_on_submit() and pages.saved(
        form,
        lambda: indicator_tree.update_category(
            db.session, current_user, system_id, item_id, form.spec()
        ),
    ):
        flash(_("The category %(code)s is saved.", code=form.code.data), "success")
        return redirect(url_for("indicator_systems.show", system_id=system_id))
    return pages.form_page(
        "indicator_systems/category_form.html", form, system, item=category
    )


@bp.route("/<int:system_id>/indicators/new", methods=["GET", "POST"])
@login_required
def indicator_new(system_id: int) -> str | Response:
    """Add an indicator at the end of a category."""
    system = pages.draft_or_refuse(system_id)
    form = IndicatorForm()
    pages.offer_categories(form, system)
    if request.method == "GET":
        form.category_id.data = request.args.get("category_id", type=int)
    if form.validate_on_submit() and pages.saved(
        form,
        lambda: indicator_tree.add_indicator(
            db.session, current_user, system_id, form.category_id.data, form.spec()
        ),
    ):
        flash(_("The indicator %(code)s is added.", code=form.code.data), "success")
        return redirect(url_for("indicator_systems.show", system_id=system_id))
    return pages.form_page("indicator_systems/indicator_form.html", form, system)


@bp.route("/<int:system_id>/indicators/<int:item_id>", methods=["GET", "POST"])
@login_required
def indicator_edit(system_id: int, item_id: int) -> str | Response:
    """Change an indicator's points, method or evidence rules, or its category."""
    system = pages.draft_or_refuse(system_id)
    indicator = pages.item_of(system, item_id, "indicator")
    form = IndicatorForm(obj=indicator)
    pages.offer_categories(form, system)
    if request.method == "GET":
        form.category_id.data = indicator.parent_id
    if form.validate_on_submit() and pages.saved(
        form,
        lambda: indicator_tree.update_indicator(
            db.session,
            current_user,
            system_id,
            item_id,
            form.spec(),
            form.category_id.data,
        ),
    ):
        flash(_("The indicator %(code)s is saved.", code=form.code.data), "success")
        return redirect(url_for("indicator_systems.show", system_id=system_id))
    return pages.form_page(
        "indicator_systems/indicator_form.html", form, system, item=indicator
    )


@bp.post("/<int:system_id>/items/<int:item_id>/delete")
@login_required
def item_delete(system_id: int, item_id: int) -> Response:
    """Delete an indicator, or a category with its indicators."""
    pages.draft_or_refuse(system_id)
    with transaction(db.session):
        indicator_tree.delete_item(db.session, current_user, system_id, item_id)
    flash(_("The item is deleted."), "success")
    return redirect(url_for("indicator_systems.show", system_id=system_id))


@bp.post("/<int:system_id>/items/<int:item_id>/move")
@login_required
def item_move(system_id: int, item_id: int) -> Response:
    """Move an item one place up or down among its siblings."""
    pages.draft_or_refuse(system_id)
    direction = request.form.get("direction", "")
    with transaction(db.session):
        indicator_tree.move_item(
            db.session, current_user, system_id, item_id, direction
        )
    target = url_for("indicator_systems.show", system_id=system_id)
    return redirect(f"{target}#item-{item_id}")


@bp.get("/template.xlsx")
@login_required
def template() -> Response:
    """Download the empty workbook to fill in and import."""
    return pages.xlsx(
        template_workbook(), "indicator-template.xlsx", "测评体系模板.xlsx"
    )


@bp.get("/<int:system_id>.xlsx")
@login_required
def export(system_id: int) -> Response:
    """Download a version's tree as a workbook that imports again unchanged."""
    system = indicator_admin.visible_system(db.session, current_user, system_id)
    content = system_workbook(system, indicator_values.tree_of(system))
    ascii_name = f"{system.code}-v{system.version}.xlsx"
    return pages.xlsx(content, ascii_name, f"{system.name}-v{system.version}.xlsx")


@bp.post("/<int:system_id>/import")
@login_required
def import_workbook(system_id: int) -> str | Response:
    """Replace a draft's tree with a workbook's; any problem means no change."""
    system = pages.draft_or_refuse(system_id)
    form = ImportForm()
    if not form.validate_on_submit():
        errors = [message for field in form.errors.values() for message in field]
        return _import_refused(system, errors)

    content = form.workbook.data.read(indicator_workbook.MAX_UPLOAD_BYTES + 1)
    try:
        tree = indicator_workbook.read_tree(content)
        with transaction(db.session):
            indicator_tree.replace_tree(db.session, current_user, system_id, tree)
    except InvalidInput as error:
        problems = error.details.get("problems") or []
        return _import_refused(
            system, [pages.say(p) for p in problems] or [error.message]
        )

    count = sum(len(category.indicators) for category in tree)
    flash(
        ngettext(
            "Imported %(num)d indicator in %(categories)d categories.",
            "Imported %(num)d indicators in %(categories)d categories.",
            count,
            categories=len(tree),
        ),
        "success",
    )
    return redirect(url_for("indicator_systems.show", system_id=system_id))


def _import_refused(system: IndicatorSystem, errors: list[str]):
    flash(
        ngettext(
            "Nothing was imported: the workbook has %(num)d problem.",
            "Nothing was imported: the workbook has %(num)d problems.",
            len(errors),
        ),
        "error",
    )
    return _show_page(system, import_errors=errors), 422
