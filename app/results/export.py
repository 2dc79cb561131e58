"""The results table as an Excel workbook with Chinese headers."""

from __future__ import annotations

import io
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from app.models import Cycle, CycleResult

GRADE_NAMES = {"model": "标兵", "keep": "合格", "below": "未达标", "veto": "一票否决"}
OUTCOME_NAMES = {"overdue": "逾期未完成", "not_submitted": "逾期未上报"}
SCORE_FORMAT = "0.00"

# Header, width in characters, and how to read the cell from a result.
COLUMNS = (
    ("单位", 28, lambda r: r.unit.name),
    ("所属文明办", 18, lambda r: r.unit.office.name),
    ("单位类型", 16, lambda r: r.unit.unit_type),
    ("基础分", 9, lambda r: r.base_score),
    ("加分", 8, lambda r: r.bonus),
    ("审核扣分", 10, lambda r: r.review_deductions),
    ("逾期扣分", 10, lambda r: r.late_deduction),
    ("问题扣分", 10, lambda r: r.problem_deduction),
    ("投诉扣分", 10, lambda r: r.complaint_deduction),
    ("事件扣分", 10, lambda r: r.incident_deduction),
    ("扣分合计", 10, lambda r: r.total_deductions),
    ("最终得分", 10, lambda r: r.final_score),
    ("等级", 10, lambda r: GRADE_NAMES.get(r.grade, r.grade)),
    ("本办排名", 10, lambda r: r.rank_in_office),
    ("同类排名", 10, lambda r: r.rank_in_type),
    ("逾期天数", 10, lambda r: r.days_late),
    ("逾期", 12, lambda r: OUTCOME_NAMES.get(r.outcome, "") if r.overdue else ""),
)


def results_workbook(cycle: Cycle, results: list[CycleResult]) -> bytes:
    """Return an .xlsx file of the results: one row per unit, header frozen."""
    book = Workbook()
    sheet = book.active
    sheet.title = "测评结果"
    sheet.append([header for header, _, _ in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for result in results:
        sheet.append([_cell(read(result)) for _, _, read in COLUMNS])

    for index, (_, width, _) in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, float):
                cell.number_format = SCORE_FORMAT
    sheet.freeze_panes = "A2"
    book.properties.title = f"{cycle.name} 测评结果"

    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _cell(value):
    """Write scores as numbers, not text, so the sheet can sum and sort them."""
    if isinstance(value, Decimal):
        return float(value)
    return value
