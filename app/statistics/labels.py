"""The words of the statistics pages, and the chart data the page script draws."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.services.statistics import Bucket
from app.services.statistics_dashboard import Dashboard

BUCKET_LABELS = {
    "funnel.issued": _l("Tasks issued"),
    "funnel.submitted": _l("Units that submitted"),
    "funnel.review_county": _l("In county review"),
    "funnel.review_city": _l("In city review"),
    "funnel.review_province": _l("In province review"),
    "funnel.review_office": _l("In managing-office review"),
    "funnel.rectifying": _l("Rectifying after review"),
    "funnel.archived": _l("Tasks archived"),
    "ontime.issued": _l("Tasks issued"),
    "ontime.on_time": _l("Submitted on time"),
    "ontime.late": _l("Submitted late"),
    "ontime.not_submitted": _l("Not submitted yet"),
    "overdue.units": _l("Units with an overdue task"),
}
LANE_LABELS = {
    "unit": _l("Unit liaison"),
    "unit_leader": _l("Unit leader"),
    "county": _l("County"),
    "city": _l("City"),
    "province": _l("Province"),
    "office": _l("Managing office"),
}
STATUS_LABELS = {
    "running": _l("Running"),
    "completed": _l("Finished"),
    "error": _l("Stopped by an error"),
}
OUTCOME_LABELS = {
    "approved": _l("Archived as approved"),
    "failed": _l("Archived as failed"),
    "rectification_failed": _l("Archived after rectification was not accepted"),
}
METRIC_LABELS = {
    "issued": _l("Tasks issued"),
    "scored": _l("Units scored"),
    "passed": _l("Units passed"),
    "failed": _l("Units failed"),
    "on_time": _l("Submitted on time"),
    "archived": _l("Tasks archived"),
}


def bucket_label(found: Bucket) -> str:
    """Return the words for a bucket: its fixed name, or the label it carries."""
    ref = found.ref
    if ref in BUCKET_LABELS:
        return str(BUCKET_LABELS[ref])
    if ref.startswith("rounds."):
        return _("%(num)s rectification rounds", num=found.label)
    if ref.startswith("indicators."):
        return _("Reviewed on indicator %(code)s", code=found.label)
    metric = ref.rsplit(".", 1)[-1]
    if metric in METRIC_LABELS:
        return f"{found.label} · {METRIC_LABELS[metric]}"
    return found.label


def _number(value) -> float | None:
    if isinstance(value, Decimal):
        return float(value)
    return value


def _series(name, buckets: list[Bucket], link: Callable[[str], str]) -> dict:
    return {
        "name": str(name),
        "values": [b.count for b in buckets],
        "urls": [link(b.ref) for b in buckets],
    }


def chart_payload(board: Dashboard, link: Callable[[str], str]) -> dict:
    """Return the charts of the dashboard as plain data for the page script."""
    return {"charts": [*_progress_charts(board, link), *_result_charts(board, link)]}


def _progress_charts(board: Dashboard, link) -> list[dict]:
    funnel = board.progress.funnel
    on_time = board.progress.on_time
    times = [on_time.on_time, on_time.late, on_time.not_submitted]
    rounds = board.progress.rounds
    return [
        {
            "id": "funnel",
            "kind": "funnel",
            "categories": [str(BUCKET_LABELS[b.ref]) for b in funnel],
            "series": [_series(_("Units"), funnel, link)],
        },
        {
            "id": "ontime",
            "kind": "bar",
            "categories": [str(BUCKET_LABELS[b.ref]) for b in times],
            "series": [_series(_("Units"), times, link)],
        },
        {
            "id": "rounds",
            "kind": "bar",
            "categories": [b.label for b in rounds],
            "series": [_series(_("Units"), rounds, link)],
        },
    ]


def _result_charts(board: Dashboard, link) -> list[dict]:
    weakest = board.indicators[:10]
    return [
        {
            "id": "bands",
            "kind": "bar",
            "categories": [b.label for b in board.bands],
            "series": [_series(_("Units"), board.bands, link)],
        },
        _group_chart("offices", board.by_office, link),
        _group_chart("types", board.by_type, link),
        {
            "id": "indicators",
            "kind": "bar",
            "categories": [row.code for row in weakest],
            "series": [
                {
                    "name": _("Average share of points (%)"),
                    "values": [row.average_share for row in weakest],
                    "urls": [link(row.reviewed.ref) for row in weakest],
                }
            ],
        },
        _ledger_chart(board, link),
        _trend_chart(board, link),
    ]


def _group_chart(chart_id: str, groups, link) -> dict:
    return {
        "id": chart_id,
        "kind": "bar",
        "stacked": True,
        "categories": [g.label for g in groups],
        "series": [
            _series(METRIC_LABELS["passed"], [g.passed for g in groups], link),
            _series(METRIC_LABELS["failed"], [g.failed for g in groups], link),
        ],
    }


def _ledger_chart(board: Dashboard, link) -> dict:
    months = board.ledger
    urls = [link(m.units.ref) for m in months]
    return {
        "id": "ledger",
        "kind": "bar",
        "categories": [m.units.label for m in months],
        "series": [
            {
                "name": _("Ledger entries"),
                "values": [m.entries for m in months],
                "urls": urls,
            },
            {
                "name": _("Volunteer hours in total"),
                "values": [_number(m.volunteer_hours) for m in months],
                "urls": urls,
            },
        ],
    }


def _trend_chart(board: Dashboard, link) -> dict:
    trends = board.trends
    urls = [link(t.issued.ref) for t in trends]
    return {
        "id": "trends",
        "kind": "line",
        "categories": [t.name for t in trends],
        "series": [
            {
                "name": _("On-time rate (%)"),
                "values": [t.on_time_rate for t in trends],
                "urls": urls,
            },
            {
                "name": _("Archived share (%)"),
                "values": [t.archived_share for t in trends],
                "urls": urls,
            },
            {
                "name": _("Average final score"),
                "values": [_number(t.average_score) for t in trends],
                "urls": urls,
            },
        ],
    }
