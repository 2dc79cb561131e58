"""Writing indicator workbooks: the empty template and the export of a version.

The format is the one app.services.indicator_workbook reads, so an exported version
imports again unchanged; the explanatory sheet is written in the reader's language.
"""

from __future__ import annotations

import io
from decimal import Decimal

from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from app.models import IndicatorSystem
from app.services.indicator_rules import ZERO, CategorySpec, IndicatorSpec
from app.services.indicator_workbook import (
    COLUMNS,
    HELP_SHEET,
    KIND_WORDS,
    MAX_ROWS,
    METHOD_WORDS,
    NO,
    TREE_SHEET,
    YES,
)


def template_workbook() -> bytes:
    """Return an empty indicator workbook: the header row and the explanations."""
    return _workbook([], _("Indicator system template"))


def system_workbook(system: IndicatorSystem, tree: list[CategorySpec]) -> bytes:
    """Return a version's tree as a workbook in the template's format."""
    title = _(
        "%(name)s (%(code)s version %(version)s)",
        name=system.name,
        code=system.code,
        version=system.version,
    )
    return _workbook(tree, title)


def _workbook(tree: list[CategorySpec], title: str) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = TREE_SHEET
    sheet.append([column.header for column in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for category in tree:
        sheet.append(_category_row(category))
        for item in category.indicators:
            sheet.append(_indicator_row(category, item))
    for index, column in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    sheet.freeze_panes = "A2"
    _add_choices(sheet)
    _help_sheet(book.create_sheet(HELP_SHEET), title)
    book.properties.title = title

    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _category_row(category: CategorySpec) -> list:
    total = sum((i.points for i in category.indicators), ZERO)
    shown = _number(total) if category.kind in ("base", "bonus") else None
    row = [category.code, category.name, None, KIND_WORDS[category.kind], shown]
    return row + [None] * (len(COLUMNS) - len(row))


def _indicator_row(category: CategorySpec, item: IndicatorSpec) -> list:
    return [
        item.code,
        item.name,
        category.code,
        None,
        _number(item.points),
        None if item.per_item_points is None else _number(item.per_item_points),
        METHOD_WORDS[item.method],
        YES if item.office_only else NO,
        item.min_photos,
        item.min_documents,
        item.min_explanation_chars,
        item.max_explanation_chars,
        item.guidance or None,
    ]


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _add_choices(sheet) -> None:
    """Offer the fixed words as drop-down lists in the kind, method and flag columns."""
    for key, words in (
        ("kind", KIND_WORDS.values()),
        ("method", METHOD_WORDS.values()),
        ("office_only", (YES, NO)),
    ):
        letter = get_column_letter(_position(key))
        choice = DataValidation(
            type="list", formula1='"' + ",".join(words) + '"', allow_blank=True
        )
        choice.add(f"{letter}2:{letter}{MAX_ROWS + 1}")
        sheet.add_data_validation(choice)


def _position(key: str) -> int:
    return next(i for i, c in enumerate(COLUMNS, start=1) if c.key == key)


def _help_sheet(sheet, title: str) -> None:
    sheet.append([title])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append(
        [
            _(
                "Fill in the sheet %(sheet)s: one row per category or indicator, "
                "in display order. Importing replaces the whole tree of a draft; "
                "if any row has a problem, nothing is imported.",
                sheet=TREE_SHEET,
            )
        ]
    )
    sheet.append([])
    sheet.append([_("Column"), _("Key"), _("What to enter")])
    for cell in sheet[4]:
        cell.font = Font(bold=True)
    for column in COLUMNS:
        sheet.append([column.header, column.key, _column_help(column.key)])
    for letter, width in (("A", 16), ("B", 24), ("C", 90)):
        sheet.column_dimensions[letter].width = width
    for row in sheet.iter_rows(min_row=5):
        row[2].alignment = Alignment(wrap_text=True, vertical="top")


def _column_help(key: str) -> str:
    kinds = "、".join(KIND_WORDS.values())
    methods = "、".join(METHOD_WORDS.values())
    texts = {
        "code": _("A unique code such as A or A1: letters, digits and . - _."),
        "name": _("The name of the category or indicator, at most 200 characters."),
        "category": _(
            "Empty on a category row. On an indicator row, the code of a category "
            "in a row above."
        ),
        "kind": _(
            "On a category row, the kind of its indicators: %(kinds)s. Leave it "
            "empty on indicator rows.",
            kinds=kinds,
        ),
        "points": _(
            "An indicator's points; for a bonus indicator the most it adds. A "
            "category row may leave it empty or give the sum of its indicators."
        ),
        "per_item_points": _(
            "Points per case, e.g. 1 per media report or 2 per valid complaint; "
            "empty if the indicator has none. Deduction items need it."
        ),
        "method": _(
            "How the indicator is assessed: %(methods)s; empty means %(default)s.",
            methods=methods,
            default=METHOD_WORDS["materials"],
        ),
        "office_only": _(
            "%(yes)s if only the office scores it and the unit submits nothing, "
            "else %(no)s.",
            yes=YES,
            no=NO,
        ),
        "min_photos": _("The fewest photos the unit must attach; empty means 0."),
        "min_documents": _(
            "The fewest documents (minutes, files) the unit must attach; empty means 0."
        ),
        "min_explanation_chars": _(
            "The fewest characters of the unit's explanation; empty means 0."
        ),
        "max_explanation_chars": _(
            "The most characters of the unit's explanation; empty means 500."
        ),
        "guidance": _("Guidance shown to the unit, at most 500 characters."),
    }
    return texts[key]
