"""Reading an indicator workbook: the sheet's format and the rows of a filled one.

The indicator sheet has one header row, then one row per category or indicator in
display order. A category row leaves 所属类别 (category) empty and names the kind of
its indicators; an indicator row names a category above it. The column headers and
the kind, method and yes/no words are fixed Chinese, so a workbook reads the same
whatever the interface language; the English keys are accepted as well.
"""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import NoReturn

from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook

from app.services.indicator_admin import raise_problems
from app.services.indicator_rules import (
    N_,
    ZERO,
    CategorySpec,
    IndicatorSpec,
    Problem,
    category_problems,
    indicator_problems,
    plain_points,
)

logger = logging.getLogger(__name__)

TREE_SHEET = "指标"
HELP_SHEET = "说明"
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_UNPACKED_BYTES = 20 * 1024 * 1024
MAX_ROWS = 1000
KIND_WORDS = {"base": "基础", "bonus": "加分", "deduction": "扣分", "veto": "否决"}
METHOD_WORDS = {
    "materials": "材料审核",
    "on_site": "实地考察",
    "questionnaire": "问卷调查",
    "online": "网络查看",
}
YES, NO = "是", "否"
YES_WORDS = {YES, "yes", "y", "true", "1"}
NO_WORDS = {NO, "no", "n", "false", "0"}


@dataclass(frozen=True)
class Column:
    """A column of the indicator sheet: its key, fixed header and width."""

    key: str
    header: str
    width: int
    required: bool = False


COLUMNS = (
    Column("code", "编码", 10, required=True),
    Column("name", "名称", 40, required=True),
    Column("category", "所属类别", 10, required=True),
    Column("kind", "性质", 8, required=True),
    Column("points", "分值", 8),
    Column("per_item_points", "每项分值", 10),
    Column("method", "测评方式", 12),
    Column("office_only", "仅由文明办评分", 14),
    Column("min_photos", "最少照片数", 11),
    Column("min_documents", "最少文件数", 11),
    Column("min_explanation_chars", "说明最少字数", 13),
    Column("max_explanation_chars", "说明最多字数", 13),
    Column("guidance", "填报指引", 40),
)
HEADERS = {column.key: column.header for column in COLUMNS}


def read_tree(content: bytes) -> list[CategorySpec]:
    """Read the tree of a filled workbook; raise InvalidInput with every problem.

    Problems name the row and the column as the workbook shows them.
    """
    book = _open(content)
    try:
        tree, problems = _read_sheet(book)
    except Exception as error:
        # openpyxl parses a sheet while its rows are read; damage shows up here.
        logger.warning("uploaded workbook sheet not readable: %r", error)
        _refuse(N_("the file could not be read as an Excel workbook (.xlsx)"))
    finally:
        book.close()
    raise_problems(problems, "the workbook was not imported")
    return tree


def _read_sheet(book: Workbook) -> tuple[list[CategorySpec], list[Problem]]:
    """Read the indicator sheet, or else the first sheet, below its header row."""
    named = TREE_SHEET in book.sheetnames
    sheet = book[TREE_SHEET] if named else book.worksheets[0]
    sheet.reset_dimensions()
    rows = sheet.iter_rows(values_only=True)
    columns, labels, problems = _columns(next(rows, None) or ())
    if problems:
        return [], problems
    return _TreeReader(columns, labels).read(rows)


def _open(content: bytes) -> Workbook:
    """Open an uploaded workbook after checking that it really is a small .xlsx."""
    if len(content) > MAX_UPLOAD_BYTES:
        _refuse(
            N_(
                "the file is larger than %(limit)d MB; an indicator workbook is smaller"
            ),
            limit=MAX_UPLOAD_BYTES // (1024 * 1024),
        )
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        names, unpacked = set(), 0
    if not {"[Content_Types].xml", "xl/workbook.xml"} <= names:
        _refuse(
            N_(
                "the file is not an Excel workbook (.xlsx); save it as .xlsx and "
                "upload it again"
            )
        )
    if unpacked > MAX_UNPACKED_BYTES:
        _refuse(N_("the workbook is too large when unpacked"))
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as error:
        # A damaged workbook fails in many ways inside openpyxl; each means the same.
        logger.warning("uploaded workbook not readable: %r", error)
        _refuse(N_("the file could not be read as an Excel workbook (.xlsx)"))
    if not book.worksheets:
        book.close()
        _refuse(N_("the workbook has no sheet to read"))
    return book


def _refuse(message: str, **values) -> NoReturn:
    raise_problems([Problem(message, values)], "the workbook was not imported")
    raise AssertionError("raise_problems raises when given a problem")


def _columns(header: tuple) -> tuple[dict[str, int], dict[str, str], list[Problem]]:
    """Find each known column by its header; report missing and repeated ones.

    Returns each column's index, its header as the workbook writes it, and the
    problems of the header row.
    """
    known = {c.header: c.key for c in COLUMNS} | {c.key: c.key for c in COLUMNS}
    columns: dict[str, int] = {}
    labels: dict[str, str] = {}
    problems = []
    for index, cell in enumerate(header):
        key = known.get(str(cell).strip().lower()) if cell is not None else None
        if key is None:
            continue
        if key in columns:
            problems.append(
                Problem(
                    N_("column %(column)s appears twice"),
                    {"column": str(cell).strip()},
                    row=1,
                )
            )
        columns[key] = index
        labels[key] = str(cell).strip()
    missing = [c.header for c in COLUMNS if c.required and c.key not in columns]
    if missing:
        problems.append(
            Problem(
                N_(
                    "the first row lacks the columns %(columns)s; start from the "
                    "template"
                ),
                {"columns": "、".join(missing)},
                row=1,
            )
        )
    return columns, labels, problems


class _TreeReader:
    """Read the rows below the header into categories, noting each problem."""

    def __init__(self, columns: dict[str, int], labels: dict[str, str]) -> None:
        self.columns = columns
        self.labels = labels
        self.problems: list[Problem] = []
        self.tree: list[CategorySpec] = []
        self.categories: dict[str, CategorySpec] = {}
        self.first_row: dict[str, int] = {}
        self.stated_totals: list[tuple[int, CategorySpec, Decimal]] = []

    def read(self, rows) -> tuple[list[CategorySpec], list[Problem]]:
        """Return the tree and the problems of every row."""
        count = 0
        for number, values in enumerate(rows, start=2):
            if all(value is None or str(value).strip() == "" for value in values):
                continue
            count += 1
            if count > MAX_ROWS:
                self.add_problem(
                    number, None, N_("at most %(limit)d rows"), limit=MAX_ROWS
                )
                break
            _Row(self, number, values).read()
        if count == 0:
            self.problems.append(Problem(N_("the sheet has no rows below the header")))
        self._check_totals()
        return self.tree, self.problems

    def column_label(self, key: str | None) -> str | None:
        """Return a column's header as the workbook writes it."""
        if not key:
            return None
        return self.labels.get(key, HEADERS.get(key, key))

    def add_problem(self, row: int, key: str | None, message: str, /, **values) -> None:
        """Note a problem of a row in a column (None: the whole row)."""
        column = self.column_label(key)
        self.problems.append(Problem(message, values, field_name=column, row=row))

    def _check_totals(self) -> None:
        for number, category, stated in self.stated_totals:
            total = sum((i.points for i in category.indicators), ZERO)
            if total != stated:
                self.add_problem(
                    number,
                    "points",
                    N_(
                        "the category's indicators add up to %(total)s, not "
                        "%(stated)s; correct it or leave it empty"
                    ),
                    total=plain_points(total),
                    stated=plain_points(stated),
                )


class _Row:
    """One row of the indicator sheet, read cell by cell."""

    def __init__(self, reader: _TreeReader, number: int, values: tuple) -> None:
        self.reader = reader
        self.number = number
        self.values = values

    def read(self) -> None:
        """Add the row's category or indicator to the tree, or note its problems."""
        code = self.text("code")
        self._check_code(code)
        parent = self.text("category")
        if parent:
            self._indicator(code, parent)
        else:
            self._category(code)
        if code:
            self.reader.first_row.setdefault(code, self.number)

    def _check_code(self, code: str) -> None:
        first = self.reader.first_row.get(code)
        if first is not None:
            self.add(
                "code",
                N_("code %(code)s is already used in row %(first)d"),
                code=code,
                first=first,
            )

    def _category(self, code: str) -> None:
        kind = self.choice("kind", KIND_WORDS, None)
        spec = CategorySpec(code=code, name=self.text("name"), kind=kind or "base")
        if kind is None and not self._has_problem("kind"):
            self.add("kind", N_("enter the kind of the category's indicators"))
        self.note(category_problems(spec))
        stated = self.number_cell("points", None)
        if stated is not None:
            self.reader.stated_totals.append((self.number, spec, stated))
        self.reader.tree.append(spec)
        self.reader.categories.setdefault(code, spec)

    def _indicator(self, code: str, parent: str) -> None:
        category = self.reader.categories.get(parent)
        if category is None:
            self.add("category", N_("no category %(code)s above this row"), code=parent)
        kind = self.choice("kind", KIND_WORDS, None)
        if category is not None and kind not in (None, category.kind):
            self.add(
                "kind",
                N_("leave the kind empty: the category's indicators are %(kind)s"),
                kind=KIND_WORDS[category.kind],
            )
        spec = IndicatorSpec(
            code=code,
            name=self.text("name"),
            points=self.number_cell("points", ZERO),
            per_item_points=self.number_cell("per_item_points", None),
            method=self.choice("method", METHOD_WORDS, "materials"),
            office_only=self.flag("office_only"),
            min_photos=self.whole("min_photos", 0),
            min_documents=self.whole("min_documents", 0),
            min_explanation_chars=self.whole("min_explanation_chars", 0),
            max_explanation_chars=self.whole("max_explanation_chars", 500),
            guidance=self.text("guidance"),
        )
        self.note(indicator_problems(spec))
        if category is not None:
            category.indicators.append(spec)

    def cell(self, key: str):
        """Return the raw value of a column, None when the column or cell is absent."""
        index = self.reader.columns.get(key)
        if index is None or index >= len(self.values):
            return None
        return self.values[index]

    def text(self, key: str) -> str:
        """Read a cell as text; a number typed as 1 reads as "1"."""
        value = self.cell(key)
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).strip()

    def number_cell(self, key: str, default: Decimal | None) -> Decimal | None:
        """Read a cell as points with two decimals; empty gives the default."""
        value = self.cell(key)
        if value is None or str(value).strip() == "":
            return default
        try:
            if isinstance(value, bool):
                raise InvalidOperation
            number = Decimal(str(value).strip())
            if not number.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            self.add(key, N_("enter a number"))
            return default
        return number.quantize(Decimal("0.01"))

    def whole(self, key: str, default: int) -> int:
        """Read a cell as a whole number; empty gives the default."""
        number = self.number_cell(key, None)
        if number is None:
            return default
        if number != number.to_integral_value():
            self.add(key, N_("enter a whole number"))
            return default
        return int(number)

    def flag(self, key: str) -> bool:
        """Read a yes or no cell; empty is no."""
        value = self.cell(key)
        if isinstance(value, bool):
            return value
        word = self.text(key).lower()
        if word in YES_WORDS:
            return True
        if word in NO_WORDS or word == "":
            return False
        self.add(key, N_("enter %(yes)s or %(no)s"), yes=YES, no=NO)
        return False

    def choice(self, key: str, words: dict[str, str], default: str | None):
        """Read one of the fixed words (or its English key); empty gives the default."""
        word = self.text(key)
        if not word:
            return default
        for value, shown in words.items():
            if word in (shown, value):
                return value
        self.add(
            key, N_("choose one of %(choices)s"), choices="、".join(words.values())
        )
        return default

    def add(self, key: str | None, message: str, /, **values) -> None:
        """Note a problem of this row in a column."""
        self.reader.add_problem(self.number, key, message, **values)

    def note(self, problems: list[Problem]) -> None:
        """Note problems of the row's fields, unless that cell already has one."""
        for problem in problems:
            if not self._has_problem(problem.field_name):
                column = self.reader.column_label(problem.field_name)
                self.reader.problems.append(
                    replace(problem, field_name=column, row=self.number)
                )

    def _has_problem(self, key: str | None) -> bool:
        column = self.reader.column_label(key)
        return any(
            p.row == self.number and p.field_name == column
            for p in self.reader.problems
        )
