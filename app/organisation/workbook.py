"""The units workbook: the import template, the export, and reading an upload.

Headers and choice values are written in the reader's language and read back
in any language the interface offers, or as the stored codes, so a workbook
exported by one person imports for another.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from app.factory import LANGUAGES
from app.models import Unit
from app.models.organisation import TITLE_LEVELS, TITLE_STATUSES
from app.services.unit_import import MAX_ROWS
from app.titles.views import LEVEL_LABELS as TITLE_LEVEL_LABELS
from app.titles.views import STATUS_LABELS as TITLE_STATUS_LABELS
from processes.errors import InvalidInput

logger = logging.getLogger(__name__)

FLAG_LABELS = {"yes": _l("Yes"), "no": _l("No")}
MAX_FILE_MB = 5


@dataclass(frozen=True)
class Column:
    """One column of the units sheet: its field, header, width and what it takes."""

    key: str
    label: object
    width: int
    hint: object
    required: bool = False
    choices: Mapping[str, object] | None = None


COLUMNS = (
    Column("name", _l("Unit name"), 28, _l("At most 120 characters."), True),
    Column(
        "code",
        _l("Unit code"),
        16,
        _l(
            "Unique. A row whose code belongs to a unit of your area changes that "
            "unit; any other row adds a unit."
        ),
        True,
    ),
    Column(
        "unit_type",
        _l("Unit type"),
        16,
        _l("For example school, hospital, government, enterprise, community."),
        True,
    ),
    Column(
        "office_code",
        _l("Managing office code"),
        18,
        _l("The code of an office of your area, as the organisation page lists it."),
        True,
    ),
    Column(
        "target_level",
        _l("Target title level"),
        16,
        _l("The title the unit works towards; empty means county level."),
        choices={level: TITLE_LEVEL_LABELS[level] for level in TITLE_LEVELS},
    ),
    Column(
        "title_level",
        _l("Held title level"),
        16,
        _l("Empty when the unit holds no title."),
        choices={level: TITLE_LEVEL_LABELS[level] for level in TITLE_LEVELS},
    ),
    Column(
        "title_status",
        _l("Title status"),
        14,
        _l("Empty means no title. Named, yellow card and rectifying need a level."),
        choices={status: TITLE_STATUS_LABELS[status] for status in TITLE_STATUSES},
    ),
    Column(
        "term_start",
        _l("Term start"),
        14,
        _l("A date such as 2026-01-01; may be empty."),
    ),
    Column(
        "term_end",
        _l("Term end"),
        14,
        _l("A date on or after the term start; may be empty."),
    ),
    Column(
        "needs_leader_signoff",
        _l("Leader sign-off"),
        12,
        _l("Yes when the unit leader signs off submissions; empty means no."),
        choices=FLAG_LABELS,
    ),
)
COLUMN_LABELS = {column.key: column.label for column in COLUMNS}


def template_workbook() -> bytes:
    """Return an empty units sheet with its header row and an explanation sheet."""
    book = Workbook()
    _units_sheet(book, [])
    _explanation_sheet(book)
    return _saved(book)


def units_workbook(units: Iterable[Unit]) -> bytes:
    """Return the units in the import format, so the file can be imported again."""
    book = Workbook()
    _units_sheet(book, [_row(unit) for unit in units])
    _explanation_sheet(book)
    return _saved(book)


def _row(unit: Unit) -> list[object]:
    return [
        unit.name,
        unit.code,
        unit.unit_type,
        unit.office.code,
        str(TITLE_LEVEL_LABELS[unit.target_level]),
        str(TITLE_LEVEL_LABELS[unit.title_level]) if unit.title_level else None,
        str(TITLE_STATUS_LABELS[unit.title_status]),
        unit.title_term_start,
        unit.title_term_end,
        str(FLAG_LABELS["yes" if unit.needs_leader_signoff else "no"]),
    ]


def _units_sheet(book: Workbook, rows: list[list[object]]) -> None:
    sheet = book.active
    sheet.title = _("Units")
    sheet.append([str(column.label) for column in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(row)

    last_row = max(MAX_ROWS + 1, len(rows) + 1)
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = column.width
        cells = f"{letter}2:{letter}{last_row}"
        if column.choices:
            options = ",".join(str(label) for label in column.choices.values())
            offered = DataValidation(
                type="list", formula1=f'"{options}"', allow_blank=True
            )
            offered.add(cells)
            sheet.add_data_validation(offered)
    sheet.freeze_panes = "A2"


def _explanation_sheet(book: Workbook) -> None:
    sheet = book.create_sheet(_("Explanation"))
    sheet.append([_("How to fill in the units sheet")])
    sheet["A1"].font = Font(bold=True, size=13)
    for line in (
        _("Fill in one unit per row below the header row; keep the header row."),
        _("Columns may be in any order; columns not listed here are ignored."),
        _(
            "The import checks every row first. If any row has a problem, nothing "
            "is imported and the page lists each problem by row and column."
        ),
        _("The explanation sheet is not imported."),
    ):
        sheet.append([line])
    sheet.append([])
    sheet.append([_("Column"), _("Required"), _("What to enter"), _("Allowed values")])
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for column in COLUMNS:
        sheet.append(
            [
                str(column.label),
                _("Yes") if column.required else _("No"),
                str(column.hint),
                " / ".join(str(label) for label in (column.choices or {}).values()),
            ]
        )
    for letter, width in zip("ABCD", (20, 10, 70, 50), strict=True):
        sheet.column_dimensions[letter].width = width
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")


def _saved(book: Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def read_units(data: bytes) -> list[tuple[int, dict[str, object]]]:
    """Return the unit rows of an uploaded workbook by row number and field.

    Raises InvalidInput when the file is no workbook, lacks a required column,
    has no unit rows or more than the import takes.
    """
    if len(data) > MAX_FILE_MB * 1024 * 1024:
        raise _refusal(
            f"the workbook is larger than {MAX_FILE_MB} MB",
            "file_too_large",
            limit=MAX_FILE_MB,
        )
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # noqa: BLE001 - openpyxl reports damage many ways
        logger.info("upload refused, not a workbook: %s", error)
        raise _refusal("the file is not an Excel workbook", "not_workbook") from None
    try:
        return _rows(book.worksheets[0])
    except InvalidInput:
        raise
    except Exception as error:  # noqa: BLE001 - a damaged sheet fails while read
        logger.info("upload refused, unreadable sheet: %s", error)
        raise _refusal("the file is not an Excel workbook", "not_workbook") from None
    finally:
        book.close()


def _rows(sheet) -> list[tuple[int, dict[str, object]]]:
    lines = sheet.iter_rows(values_only=True)
    positions = _positions(next(lines, None) or ())
    missing = [c for c in COLUMNS if c.required and c.key not in positions.values()]
    if missing:
        names = ", ".join(str(column.label) for column in missing)
        raise _refusal(
            f"the header row lacks the columns {names}",
            "missing_columns",
            columns=names,
        )

    readers = _value_readers()
    rows = []
    for number, values in enumerate(lines, start=2):
        if all(_blank(value) for value in values):
            continue
        if len(rows) >= MAX_ROWS:
            raise _refusal(
                f"a workbook holds at most {MAX_ROWS} units",
                "too_many_rows",
                limit=MAX_ROWS,
            )
        cells = {
            key: readers[key](values[index]) if index < len(values) else None
            for index, key in positions.items()
        }
        rows.append((number, cells))
    if not rows:
        raise _refusal("the workbook has no unit rows", "no_rows")
    return rows


def _positions(header: tuple) -> dict[int, str]:
    """Map the header row's column positions to fields, by any known header."""
    names = {}
    for column in COLUMNS:
        for spelling in (column.key, *_spellings(column.label)):
            names[_folded(spelling)] = column.key
    return {
        index: names[_folded(value)]
        for index, value in enumerate(header)
        if not _blank(value) and _folded(value) in names
    }


def _value_readers() -> dict[str, object]:
    """Return, per field, how a cell is read: choices become their codes."""
    readers = {}
    for column in COLUMNS:
        if not column.choices:
            readers[column.key] = _plain
            continue
        codes = {}
        for code, label in column.choices.items():
            codes[_folded(code)] = code
            codes.update({_folded(name): code for name in _spellings(label)})
        readers[column.key] = _choice_reader(codes)
    return readers


def _choice_reader(codes: dict[str, str]):
    def read(value: object) -> object:
        if _blank(value) or isinstance(value, bool):
            return None if _blank(value) else value
        return codes.get(_folded(value), str(value).strip())

    return read


def _plain(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _spellings(label: object) -> set[str]:
    """Return the label in every language the interface offers."""
    spellings = set()
    for locale, _name in LANGUAGES:
        with force_locale(locale):
            spellings.add(str(label))
    return spellings


def _folded(value: object) -> str:
    return str(value).strip().casefold()


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _refusal(message: str, kind: str, **values: object) -> InvalidInput:
    return InvalidInput(message, details={"kind": kind, **values})
