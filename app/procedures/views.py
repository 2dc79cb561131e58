"""Procedure administration pages: versions, upload, validation, diff, migration."""

from __future__ import annotations

import logging
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.extensions import db
from app.services import lanes, procedure_drafts, procedures
from app.services.base import transaction
from app.timezones import localtime
from forms.registry import FORM_KEYS
from processes import scripting
from processes.diagram_diff import diff_diagrams
from processes.errors import Conflict, InvalidDiagram, InvalidInput
from processes.lint import KNOWN_LANES
from processes.problems import make_problem
from processes.validation import Verdict

logger = logging.getLogger(__name__)

bp = Blueprint(
    "procedures", __name__, url_prefix="/admin/procedures", template_folder="templates"
)

BPMN_TYPE = "application/xml"


@bp.before_request
@login_required
def only_administrators() -> None:
    """Let only system administrators into procedure administration."""
    procedures.check_admin(current_user)


@bp.get("/")
def index() -> str:
    """List the procedures with their current versions and running instances."""
    return render_template(
        "procedures/index.html",
        summaries=procedures.summaries(db.session),
        shipped=procedure_drafts.shipped_diagrams(),
        lane_routes=lanes.lane_route_rows(db.session),
        known_lanes=sorted(KNOWN_LANES),
    )


@bp.post("/lanes")
def add_lane() -> Response:
    """Let diagrams use a lane name of their own, routed like a known lane."""
    try:
        with transaction(db.session):
            lanes.add_lane_route(
                db.session,
                current_user,
                request.form.get("name", ""),
                request.form.get("routes_to", ""),
            )
    except InvalidInput as error:
        flash(error.message, "error")
    else:
        flash(
            _("The lane name is added; diagrams deployed from now on may use it."),
            "success",
        )
    return redirect(url_for("procedures.index") + "#lanes-heading")


@bp.post("/lanes/<int:route_id>/remove")
def remove_lane(route_id: int) -> Response:
    """Stop accepting a custom lane name in new versions."""
    with transaction(db.session):
        lanes.remove_lane_route(db.session, current_user, route_id)
    flash(
        _("The lane name is removed; deployed versions keep their routing."), "success"
    )
    return redirect(url_for("procedures.index") + "#lanes-heading")


@bp.post("/upload")
def upload() -> str | Response | tuple[str, int]:
    """Check an uploaded diagram and, when asked and valid, deploy it."""
    upload_file = request.files.get("diagram")
    if upload_file is None or not upload_file.filename:
        flash(_("Choose a .bpmn file to upload."), "error")
        return redirect(url_for("procedures.index"))
    filename = upload_file.filename.rsplit("/", 1)[-1][:200]
    xml = upload_file.read(procedures.MAX_DIAGRAM_BYTES + 1)

    try:
        verdict = procedures.validate(db.session, xml, filename)
        if verdict.ok and request.form.get("action") == "deploy":
            return _deploy(xml, filename, request.form.get("comment", ""))
    except InvalidDiagram as error:
        verdict = _refused(filename, error)
    return _verdict_page(verdict), 200 if verdict.ok else 422


def _deploy(xml: bytes, filename: str, comment: str) -> Response:
    with transaction(db.session):
        result = procedures.deploy(db.session, current_user, xml, filename, comment)
        key, number = result.version.definition.process_key, result.version.version
    if result.created:
        flash(_("Deployed as version %(number)d.", number=number), "success")
    else:
        flash(_("This diagram is already the current version."), "info")
    return redirect(url_for("procedures.definition", process_key=key))


def _refused(filename: str, error: InvalidDiagram) -> Verdict:
    return Verdict(filename, error.problems or [make_problem("engine", error.message)])


def _verdict_page(verdict: Verdict) -> str:
    return render_template(
        "procedures/verdict.html",
        verdict=verdict,
        problems=procedures.problems_as_json(verdict.problems),
    )


@bp.get("/<process_key>")
def definition(process_key: str) -> str:
    """Show a procedure's versions, which is current and how many run on each."""
    summary = procedures.summary(db.session, process_key)
    older_running = sum(
        row.running for row in summary.versions if not row.version.is_current
    )
    return render_template(
        "procedures/definition.html",
        summary=summary,
        older_running=older_running,
        authors=procedures.authors(db.session, summary),
    )


@bp.get("/<process_key>/<int:number>.bpmn")
def download(process_key: str, number: int) -> Response:
    """Download one version's diagram as a .bpmn file."""
    version = procedures.version_of(db.session, process_key, number)
    filename = f"{process_key}-v{number}.bpmn"
    response = Response(version.bpmn_xml, mimetype=BPMN_TYPE)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}"
    )
    return response


@bp.get("/<process_key>/<int:number>/diagram")
def diagram(process_key: str, number: int) -> Response:
    """Answer one version's diagram for the pages' diagram views."""
    version = procedures.version_of(db.session, process_key, number)
    return Response(version.bpmn_xml, mimetype=BPMN_TYPE)


@bp.post("/<process_key>/<int:number>/rollback")
def rollback(process_key: str, number: int) -> Response:
    """Make an older version current again by deploying it anew."""
    comment = request.form.get("comment", "")
    try:
        with transaction(db.session):
            result = procedures.redeploy(
                db.session, current_user, process_key, number, comment
            )
            new_number = result.version.version
    except Conflict as error:
        flash(error.message, "error")
    else:
        flash(
            _(
                "Version %(old)d is current again, as version %(new)d.",
                old=number,
                new=new_number,
            ),
            "success",
        )
    return redirect(url_for("procedures.definition", process_key=process_key))


@bp.get("/<process_key>/diff")
def diff(process_key: str) -> str:
    """Compare two versions: added, removed and changed elements."""
    summary = procedures.summary(db.session, process_key)
    numbers = [row.version.version for row in summary.versions]
    older = _number_arg("from", numbers[1] if len(numbers) > 1 else numbers[0])
    newer = _number_arg("to", numbers[0])
    old = procedures.version_of(db.session, process_key, older)
    new = procedures.version_of(db.session, process_key, newer)

    changes = diff_diagrams(old.bpmn_xml, new.bpmn_xml)
    return render_template(
        "procedures/diff.html",
        summary=summary,
        numbers=numbers,
        older=old,
        newer=new,
        changes=changes,
    )


def _number_arg(name: str, default: int) -> int:
    raw = request.args.get(name, "")
    if not raw:
        return default
    if not raw.isdigit():
        raise InvalidInput(f"{name} must be a version number, not {raw!r}")
    return int(raw)


@bp.get("/<process_key>/migration")
def migration(process_key: str) -> str:
    """Preview which running instances can move to the current version."""
    summary = procedures.summary(db.session, process_key)
    moves = procedures.migration_preview(db.session, process_key)
    return render_template("procedures/migration.html", summary=summary, moves=moves)


@bp.post("/<process_key>/migration")
def migrate(process_key: str) -> Response:
    """Move the chosen instances (or all that can) to the current version."""
    if request.form.get("scope") == "all":
        moves = procedures.migration_preview(db.session, process_key)
        chosen = [move.instance.id for move in moves if move.possible]
    else:
        chosen = [int(v) for v in request.form.getlist("instance_id") if v.isdigit()]
    if not chosen:
        flash(_("Choose at least one instance that can move."), "error")
        return redirect(url_for("procedures.migration", process_key=process_key))

    report = procedures.migrate(db.session, current_user, process_key, chosen)
    if report.moved:
        flash(
            _(
                "%(count)d instances moved to the current version.",
                count=len(report.moved),
            ),
            "success",
        )
    for instance_id, reason in report.refused.items():
        flash(
            _(
                "Instance %(id)d did not move: %(reason)s",
                id=instance_id,
                reason=reason,
            ),
            "warning",
        )
    return redirect(url_for("procedures.migration", process_key=process_key))


@bp.get("/new")
def new() -> str:
    """Open the editor on a copy of a shipped diagram, for a new procedure."""
    template = request.args.get("template", "")
    state = procedure_drafts.open_editor(
        db.session, current_user, procedure_drafts.NEW_DRAFT_KEY, template or None
    )
    return _editor_page(state, url_for("procedures.new_draft", template=template))


@bp.get("/<process_key>/edit")
def edit(process_key: str) -> str:
    """Open the editor on the user's draft, else on the current version."""
    state = procedure_drafts.open_editor(db.session, current_user, process_key)
    return _editor_page(state, url_for("procedures.draft", process_key=process_key))


def _editor_page(state: procedure_drafts.EditorState, draft_url: str) -> str:
    return render_template(
        "procedures/editor.html",
        state=state,
        draft_url=draft_url,
        form_keys=sorted(FORM_KEYS),
        lanes=sorted(KNOWN_LANES),
    )


@bp.get("/new/draft")
def new_draft() -> Response:
    """Answer the new procedure's draft, else the shipped diagram it starts from."""
    return _draft_answer(procedure_drafts.NEW_DRAFT_KEY)


@bp.get("/<process_key>/draft")
def draft(process_key: str) -> Response:
    """Answer the diagram the editor works on: the draft, else the current one."""
    return _draft_answer(process_key)


def _draft_answer(process_key: str) -> Response:
    template = request.args.get("template") or None
    state = procedure_drafts.open_editor(
        db.session, current_user, process_key, template
    )
    return Response(state.xml, mimetype=BPMN_TYPE)


@bp.put("/new/draft")
def save_new_draft() -> Response:
    """Keep the new procedure's diagram as drawn so far."""
    return _save_draft(procedure_drafts.NEW_DRAFT_KEY)


@bp.put("/<process_key>/draft")
def save_draft(process_key: str) -> Response:
    """Keep the diagram as drawn so far."""
    return _save_draft(process_key)


def _save_draft(process_key: str) -> Response:
    xml = request.get_data(cache=False)
    with transaction(db.session):
        saved = procedure_drafts.save_draft(db.session, current_user, process_key, xml)
        saved_at = saved.updated_at
    return jsonify(saved_at=saved_at.isoformat(), shown=localtime(saved_at))


@bp.delete("/new/draft")
def discard_new_draft() -> Response:
    """Throw the new procedure's draft away."""
    return _discard(procedure_drafts.NEW_DRAFT_KEY)


@bp.delete("/<process_key>/draft")
def discard_draft(process_key: str) -> Response:
    """Throw the draft away; the editor shows the current version again."""
    return _discard(process_key)


def _discard(process_key: str) -> Response:
    with transaction(db.session):
        procedure_drafts.discard_draft(db.session, current_user, process_key)
    return jsonify(discarded=True)


@bp.post("/check")
def check() -> Response:
    """Run every check on the posted diagram and answer its problems."""
    xml = request.get_data(cache=False)
    try:
        verdict = procedures.validate(db.session, xml, "diagram.bpmn")
    except InvalidDiagram as error:
        verdict = _refused("diagram.bpmn", error)
    return jsonify(
        ok=verdict.ok,
        process_ids=verdict.process_ids,
        problems=procedures.problems_as_json(verdict.problems),
    )


@bp.post("/check-script")
def check_script() -> Response:
    """Say at once whether a script or expression typed in the panel would run."""
    body = request.get_json(silent=True) or {}
    mode = "eval" if body.get("mode") == "eval" else "exec"
    problems = scripting.check_script(str(body.get("text") or ""), mode=mode)
    return jsonify(ok=not problems, problems=[str(p) for p in problems])


@bp.post("/trial")
def trial() -> Response | tuple[Response, int]:
    """Run the posted diagram in memory along the chosen path."""
    xml = request.get_data(cache=False)
    path = request.args.get("path", "approve")
    try:
        run = procedures.trial(db.session, xml, path)
    except InvalidDiagram as error:
        return _problems_answer(error)
    return jsonify(run.as_json())


@bp.post("/new/draft/deploy")
def deploy_new_draft() -> Response | tuple[Response, int]:
    """Deploy the new procedure's draft as version 1 of its own."""
    return _deploy_draft(procedure_drafts.NEW_DRAFT_KEY)


@bp.post("/<process_key>/draft/deploy")
def deploy_draft(process_key: str) -> Response | tuple[Response, int]:
    """Deploy the saved draft as the procedure's new current version."""
    return _deploy_draft(process_key)


def _deploy_draft(process_key: str) -> Response | tuple[Response, int]:
    comment = (request.get_json(silent=True) or {}).get("comment", "")
    try:
        with transaction(db.session):
            result = procedure_drafts.deploy_draft(
                db.session, current_user, process_key, str(comment)
            )
            key = result.version.definition.process_key
            number = result.version.version
    except InvalidDiagram as error:
        return _problems_answer(error)
    flash(_("Deployed as version %(number)d.", number=number), "success")
    return jsonify(
        version=number, url=url_for("procedures.definition", process_key=key)
    )


def _problems_answer(error: InvalidDiagram) -> tuple[Response, int]:
    """Answer a refused diagram with its problems, for the editor to mark."""
    problems = error.problems or [make_problem("engine", error.message)]
    body = {"detail": error.message, "problems": procedures.problems_as_json(problems)}
    return jsonify(body), 422
