"""The statistics dashboard as an Excel workbook: one sheet per figure."""

from __future__ import annotations

import io
import logging
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from app.services.statistics_dashboard import Dashboard

logger = logging.getLogger(__name__)

FUNNEL_NAMES = {
    "funnel.issued": "已下达",
    "funnel.submitted": "已上报",
    "funnel.review_county": "县级审核中",
    "funnel.review_city": "市级审核中",
    "funnel.review_province": "省级审核中",
    "funnel.review_office": "主管文明办审核中",
    "funnel.rectifying": "整改中",
    "funnel.archived": "已归档",
}
LANE_NAMES = {
    "unit": "单位联络员",
    "unit_leader": "单位负责人",
    "county": "县级",
    "city": "市级",
    "province": "省级",
    "office": "主管文明办",
}
SOURCE_NAMES = {
    "results": "测评结果（周期关闭后）",
    "archive": "归档得分（周期未关闭）",
}
GROUP_HEADERS = ["下达单位数", "已评分", "平均得分", "达标", "未达标"]
LEDGER_HEADERS = ["月份", "台账条数", "参与人次", "志愿服务时长", "单位数"]
TREND_HEADERS = ["测评周期", "下达单位数", "按时上报率(%)", "平均得分", "归档占比(%)"]


def dashboard_workbook(board: Dashboard) -> bytes:
    """Return an .xlsx file of the dashboard, each figure on its own sheet."""
    book = Workbook()
    book.remove(book.active)
    for title, headers, rows in _sheets(board):
        _add_sheet(book, title, headers, rows)
    book.properties.title = f"{board.cycle.name} 统计分析"

    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _sheets(board: Dashboard) -> list[tuple[str, list, list]]:
    """Return title, headers and rows of each sheet, in the page's order."""
    return [*_progress_sheets(board), *_result_sheets(board)]


def _progress_sheets(board: Dashboard) -> list[tuple[str, list, list]]:
    on_time = board.progress.on_time
    timing = [
        ["已下达", on_time.issued.count],
        ["按时上报", on_time.on_time.count],
        ["逾期上报", on_time.late.count],
        ["未上报", on_time.not_submitted.count],
        ["按时上报率(%)", on_time.rate],
    ]
    overdue = [
        [r.unit_name, r.office_name, r.task_title, LANE_NAMES.get(r.lane, r.lane)]
        + [r.days_overdue]
        for r in board.progress.overdue
    ]
    rounds = [[int(b.label), b.count] for b in board.progress.rounds]
    return [
        ("进度漏斗", ["环节", "单位数"], _funnel_rows(board)),
        ("按时上报", ["项目", "单位数"], timing),
        ("逾期清单", ["单位", "所属文明办", "待办任务", "泳道", "逾期天数"], overdue),
        ("整改轮次", ["整改轮次", "单位数"], rounds),
    ]


def _result_sheets(board: Dashboard) -> list[tuple[str, list, list]]:
    source = SOURCE_NAMES[board.score_source]
    bands = [[b.label, b.count, source] for b in board.bands]
    indicators = [
        [r.code, r.name, r.points, r.reviewed.count, r.average_share]
        for r in board.indicators
    ]
    ledger = [
        [m.units.label, m.entries, m.participants, m.volunteer_hours, m.units.count]
        for m in board.ledger
    ]
    trends = [
        [t.name, t.issued.count, t.on_time_rate, t.average_score, t.archived_share]
        for t in board.trends
    ]
    return [
        ("得分分布", ["分数段", "单位数", "来源"], bands),
        ("按下级文明办", ["文明办", *GROUP_HEADERS], _group_rows(board.by_office)),
        ("按单位类型", ["单位类型", *GROUP_HEADERS], _group_rows(board.by_type)),
        (
            "薄弱指标",
            ["指标", "名称", "分值", "评审单位数", "平均得分率(%)"],
            indicators,
        ),
        (f"台账{board.year}", LEDGER_HEADERS, ledger),
        ("周期趋势", TREND_HEADERS, trends),
    ]


def _funnel_rows(board: Dashboard) -> list[list]:
    return [[FUNNEL_NAMES[b.ref], b.count] for b in board.progress.funnel]


def _group_rows(groups) -> list[list]:
    return [
        [
            g.label,
            g.issued.count,
            g.scored.count,
            g.average,
            g.passed.count,
            g.failed.count,
        ]
        for g in groups
    ]


def _add_sheet(book: Workbook, title: str, headers: list, rows: list) -> None:
    sheet = book.create_sheet(title)
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([_cell(value) for value in row])
    for index, header in enumerate(headers, start=1):
        width = max(10, 2 * len(str(header)) + 2)
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"


def _cell(value):
    """Write scores as numbers, not text, so the sheet can sum and sort them."""
    if isinstance(value, Decimal):
        return float(value)
    return value
