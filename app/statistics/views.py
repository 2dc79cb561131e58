"""Statistics pages (统计分析) for an office's subtree."""

from __future__ import annotations

import logging
from urllib.parse import quote

from flask import Blueprint, Response, jsonify, render_template, request, url_for
from flask_login import current_user, login_required

from app.extensions import db
from app.models import utcnow
from app.services import statistics
from app.services.statistics_dashboard import Dashboard, build_dashboard, drill
from app.services.statistics_export import dashboard_workbook
from app.statistics import labels
from processes.errors import InvalidInput

logger = logging.getLogger(__name__)

bp = Blueprint(
    "statistics", __name__, url_prefix="/statistics", template_folder="templates"
)

MIN_YEAR, MAX_YEAR = 2000, 2100
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.get("/")
@login_required
def index() -> str:
    """Show the dashboard of a cycle for the user's subtree or a chosen sub-office."""
    board, choices = _load()
    if board is None:
        return render_template("statistics/index.html", board=None, **choices)

    link = _linker(board)
    return render_template(
        "statistics/index.html",
        board=board,
        link=link,
        payload=labels.chart_payload(board, link),
        labels=labels,
        export_url=url_for("statistics.export", **_args(board)),
        **choices,
    )


@bp.get("/data.json")
@login_required
def data() -> Response:
    """Return the dashboard's chart data as JSON."""
    board, _choices = _load()
    if board is None:
        return jsonify({"charts": []})
    return jsonify(labels.chart_payload(board, _linker(board)))


@bp.get("/units")
@login_required
def units() -> str:
    """List the units behind one number of the dashboard."""
    board, _choices = _load()
    ref = (request.args.get("ref") or "").strip()
    if board is None or not ref:
        raise InvalidInput("choose a number on the statistics page to see its units")

    found = drill(db.session, board, ref)
    return render_template(
        "statistics/units.html",
        board=board,
        drill=found,
        title=labels.bucket_label(found.bucket),
        labels=labels,
        back_url=url_for("statistics.index", **_args(board)),
    )


@bp.get("/export.xlsx")
@login_required
def export() -> Response:
    """Download the dashboard as an Excel workbook, one sheet per figure."""
    board, _choices = _load()
    if board is None:
        raise InvalidInput("there is no cycle in your scope to export")

    content = dashboard_workbook(board)
    filename = f"{board.cycle.name}-统计分析.xlsx"
    response = Response(content, mimetype=XLSX_TYPE)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="cycle-{board.cycle.id}-statistics.xlsx"; '
        f"filename*=UTF-8''{quote(filename)}"
    )
    return response


def _load() -> tuple[Dashboard | None, dict]:
    """Resolve scope, cycle and year from the query and compute the dashboard."""
    session = db.session
    scope = statistics.resolve_scope(session, current_user, _int_arg("office_id"))
    cycle = statistics.choose_cycle(session, scope, _int_arg("cycle_id"))
    choices = {
        "cycles": statistics.visible_cycles(session, scope),
        "offices": statistics.scope_offices(session, current_user),
        "scope": scope,
    }
    if cycle is None:
        return None, choices

    now = utcnow()
    year = _int_arg("year") or (cycle.opens_at or now).year
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidInput(f"choose a ledger year between {MIN_YEAR} and {MAX_YEAR}")
    board = build_dashboard(session, scope, cycle, now=now, year=year)
    return board, choices


def _int_arg(name: str) -> int | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise InvalidInput(f"{name} must be a whole number, not “{raw}”")
    return int(raw)


def _args(board: Dashboard) -> dict[str, int]:
    args = {"cycle_id": board.cycle.id, "year": board.year}
    office = board.scope.office
    if office is not None and office.id != current_user.office_id:
        args["office_id"] = office.id
    return args


def _linker(board: Dashboard):
    args = _args(board)

    def link(ref: str) -> str:
        """Return the drill-down address of a dashboard number."""
        return url_for("statistics.units", ref=ref, **args)

    return link
