"""The ledger service: entries, permissions, photos, lists, coverage, good practice."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import BytesIO

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.models import AuditEvent, EvidenceFile, Indicator
from app.models.ledger import LedgerEntry
from app.services import ledger, ledger_queries
from processes.errors import Forbidden, InvalidInput, NotFound


def indicator_id(session, world, code: str) -> int:
    """Return the id of an indicator of the world's system by code."""
    return session.scalars(
        select(Indicator.id).where(
            Indicator.system_id == world.system.id, Indicator.code == code
        )
    ).one()


def entry_values(session, world, code: str = "B4", **changes) -> dict:
    """Return form values of a plausible activity against an indicator."""
    values = {
        "occurred_on": "2025-01-18",
        "indicator_id": str(indicator_id(session, world, code)),
        "title": "春节义诊进社区",
        "description": "医生到社区义诊。",
        "participants": "32",
        "volunteer_hours": "64",
        "place": "城东社区",
    }
    return {**values, **changes}


def record(session, world, unit: str = "hospital", code: str = "B4", **changes):
    """Have a unit's liaison record an activity; return the entry."""
    values = entry_values(session, world, code, **changes)
    return ledger.create_entry(session, world.users[unit], values)


def add_file(session, world, entry, filename: str, content: bytes, unit="hospital"):
    """Have a unit's liaison attach a file to a ledger entry; return the stored file."""
    return ledger.add_evidence(
        session,
        world.users[unit],
        entry.id,
        filename=filename,
        content=content,
        upload_folder=world.upload_folder,
    )


def jpeg(taken: str | None = None, *, original: bool = True, size=(64, 48)) -> bytes:
    """Return a real JPEG made with Pillow, with an EXIF capture time if given."""
    image = Image.new("RGB", size, (200, 40, 40))
    out = BytesIO()
    if taken is None:
        image.save(out, "JPEG")
        return out.getvalue()
    exif = Image.Exif()
    if original:
        exif.get_ifd(0x8769)[36867] = taken
    else:
        exif[306] = taken
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def count(session, model) -> int:
    """Return the number of rows of a model."""
    return session.scalar(select(func.count()).select_from(model))


def test_liaison_records_an_entry_with_indicator_id_and_code(session, world):
    """The entry keeps both the indicator's id and its code, and is audited."""
    entry = record(session, world)

    assert entry.unit_id == world.units["hospital"].id
    assert entry.indicator_code == "B4"
    assert entry.indicator_id == indicator_id(session, world, "B4")
    assert entry.volunteer_hours == Decimal("64.0")
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_id == entry.id)
    ).all()
    assert "ledger.entry_created" in actions


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (
            {"occurred_on": (date.today() + timedelta(days=3)).isoformat()},
            "occurred_on",
        ),
        ({"occurred_on": "18.01.2025"}, "occurred_on"),
        ({"volunteer_hours": "-1"}, "volunteer_hours"),
        ({"participants": "-3"}, "participants"),
        ({"participants": "many"}, "participants"),
        ({"title": "  "}, "title"),
        ({"title": "节" * 201}, "title"),
        ({"indicator_id": "999999"}, "indicator_id"),
    ],
)
def test_bad_values_are_refused_by_field_and_nothing_is_kept(
    session, world, changes, field
):
    """Each wrong value names its field; no entry and no audit event is written."""
    with pytest.raises(InvalidInput) as raised:
        record(session, world, **changes)

    assert field in raised.value.details["errors"]
    assert count(session, LedgerEntry) == 0
    assert not session.scalars(
        select(AuditEvent).where(AuditEvent.action == "ledger.entry_created")
    ).all()


def test_office_only_indicator_cannot_be_chosen(session, world):
    """D1 is scored by the office only, so no activity is recorded against it."""
    with pytest.raises(InvalidInput) as raised:
        record(session, world, code="D1")

    assert "indicator_id" in raised.value.details["errors"]


def test_other_units_and_counties_do_not_see_an_entry(session, world):
    """Another unit's liaison and another county's reviewer get NotFound."""
    entry = record(session, world)

    with pytest.raises(NotFound):
        ledger.visible_entry(session, world.users["school"], entry.id)
    with pytest.raises(NotFound):
        ledger.visible_entry(session, world.users["county2"], entry.id)
    with pytest.raises(NotFound):
        ledger.update_entry(session, world.users["school"], entry.id, {})


def test_staff_and_leaders_read_but_do_not_edit(session, world):
    """The county reviewer and the unit leader read an entry; editing is Forbidden."""
    entry = record(session, world)
    values = entry_values(session, world, title="改过的标题")

    for reader in ("county", "city", "hospital_leader"):
        assert ledger.visible_entry(session, world.users[reader], entry.id) == entry
        with pytest.raises(Forbidden):
            ledger.update_entry(session, world.users[reader], entry.id, values)
    with pytest.raises(Forbidden):
        ledger.create_entry(session, world.users["hospital_leader"], values)
    assert session.get(LedgerEntry, entry.id).title == "春节义诊进社区"


def test_liaison_edits_and_deletes_own_entry(session, world):
    """The liaison changes the title, then deletes the entry with its files."""
    entry = record(session, world)
    add_file(session, world, entry, "义诊.jpg", jpeg())

    changed = entry_values(session, world, title="春节义诊")
    ledger.update_entry(session, world.users["hospital"], entry.id, changed)
    assert session.get(LedgerEntry, entry.id).title == "春节义诊"

    ledger.delete_entry(session, world.users["hospital"], entry.id)
    assert count(session, LedgerEntry) == 0
    assert count(session, EvidenceFile) == 0


def test_photo_capture_time_is_read_from_exif(session, world):
    """DateTimeOriginal, in the office's time zone, becomes the UTC capture time."""
    entry = record(session, world)
    stored = add_file(session, world, entry, "义诊.jpg", jpeg("2025:01:18 09:30:00"))

    assert stored.kind == "photo"
    assert stored.captured_at == datetime(2025, 1, 18, 1, 30, tzinfo=UTC)


def test_capture_time_falls_back_to_datetime_and_may_be_missing(session, world):
    """Without DateTimeOriginal the DateTime tag counts; without EXIF there is none."""
    entry = record(session, world)

    def add(name, content):
        return add_file(session, world, entry, name, content)

    assert add("a.jpg", jpeg("2025:01:18 20:00:00", original=False)).captured_at == (
        datetime(2025, 1, 18, 12, 0, tzinfo=UTC)
    )
    assert add("b.jpg", jpeg()).captured_at is None
    assert add("c.jpg", jpeg("0000:00:00 00:00:00")).captured_at is None


def test_corrupt_photo_is_refused_clearly_and_nothing_is_kept(session, world):
    """A file that starts like a JPEG but is not one is refused by name."""
    broken = jpeg()[:200]
    values = entry_values(session, world)

    with pytest.raises(InvalidInput) as raised:
        ledger.create_entry(
            session,
            world.users["hospital"],
            values,
            files=(("坏照片.jpg", broken),),
            upload_folder=world.upload_folder,
        )

    assert "坏照片.jpg: the photo cannot be read" in raised.value.message
    assert "files" in raised.value.details["errors"]
    assert count(session, LedgerEntry) == 0
    assert count(session, EvidenceFile) == 0


def test_list_filters_by_indicator_and_month(session, world):
    """The list shows the entries of one indicator in one month, newest first."""
    record(session, world, occurred_on="2025-01-18")
    record(session, world, occurred_on="2025-01-25", title="元宵灯谜")
    record(session, world, occurred_on="2025-02-02")
    record(session, world, code="C2", occurred_on="2025-01-20")

    filters = ledger_queries.LedgerFilters(indicator="B4", month=date(2025, 1, 1))
    listing = ledger_queries.list_entries(session, world.users["county"], filters)

    assert [r.entry.occurred_on.isoformat() for r in listing.rows] == [
        "2025-01-25",
        "2025-01-18",
    ]
    school = ledger_queries.list_entries(
        session, world.users["school"], ledger_queries.LedgerFilters()
    )
    assert school.total == 0


def test_calendar_places_entries_on_their_days(session, world):
    """The January grid holds each entry on its day and starts on a Monday."""
    record(session, world, occurred_on="2025-01-18")
    record(session, world, code="C2", occurred_on="2025-01-18", title="志愿导医")
    record(session, world, occurred_on="2025-02-02")

    grid = ledger_queries.month_calendar(
        session,
        world.users["hospital"],
        date(2025, 1, 1),
        ledger_queries.LedgerFilters(indicator="C2"),
    )

    days = {cell.day: cell for week in grid.weeks for cell in week}
    assert grid.weeks[0][0].day.weekday() == 0
    assert [r.entry.title for r in days[date(2025, 1, 18)].rows] == ["志愿导医"]
    assert grid.total == 1
    assert (grid.previous, grid.next) == (date(2024, 12, 1), date(2025, 2, 1))


def test_coverage_counts_months_like_a_direct_count(session, world):
    """Each cell equals the number of distinct months with an entry, per unit."""
    for day in ("2025-01-05", "2025-01-20", "2025-03-08", "2025-11-11"):
        record(session, world, occurred_on=day)
    record(session, world, code="C2", occurred_on="2025-06-01")
    record(session, world, "school", code="C2", occurred_on="2025-03-05")
    record(session, world, occurred_on="2024-12-31")

    table = ledger_queries.coverage(session, world.users["county"], 2025)

    rows = {row.unit.code: row for row in table.rows}
    for unit_code, row in rows.items():
        for code in ("B4", "C2"):
            direct = {
                e.occurred_on.month
                for e in session.scalars(select(LedgerEntry))
                if e.unit_id == row.unit.id
                and e.indicator_code == code
                and e.occurred_on.year == 2025
            }
            assert row.months.get(code, 0) == len(direct), (unit_code, code)
    assert rows["hospital"].months == {"B4": 3, "C2": 1}
    assert rows["hospital"].months_any == 4
    assert rows["hospital"].total == 4
    assert "otherschool" not in rows
    assert "B4" in [code for code, _ in table.indicators]


def test_coverage_is_for_office_staff(session, world):
    """A liaison asking for the coverage table is refused."""
    with pytest.raises(Forbidden):
        ledger_queries.coverage(session, world.users["hospital"], 2025)


def test_good_practice_is_marked_by_office_staff_and_published(session, world):
    """The reviewer marks two entries; the public list has them newest first."""
    older = record(session, world, occurred_on="2025-01-18")
    newer = record(session, world, occurred_on="2025-03-01", title="学雷锋义诊")
    add_file(session, world, newer, "现场.jpg", jpeg())
    add_file(session, world, newer, "方案.pdf", b"%PDF-1.4\n%%EOF\n")

    with pytest.raises(Forbidden):
        ledger.set_good_practice(session, world.users["hospital"], older.id, True)
    with pytest.raises(NotFound):
        ledger.set_good_practice(session, world.users["county2"], older.id, True)
    for entry in (older, newer):
        ledger.set_good_practice(session, world.users["county"], entry.id, True)

    unit_id = world.units["hospital"].id
    assert ledger.published_good_practice(session, unit_id) == [newer, older]
    assert newer.good_practice_by_id == world.users["county"].id
    photos = ledger.good_practice_photos(session, newer)
    assert [f.filename for f in photos] == ["现场.jpg"]

    ledger.set_good_practice(session, world.users["county"], older.id, False)
    assert ledger.published_good_practice(session, unit_id) == [newer]
    assert ledger.good_practice_photos(session, older) == []
    marks = session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("ledger.good_%"))
    ).all()
    assert marks.count("ledger.good_practice_marked") == 2
    assert marks.count("ledger.good_practice_unmarked") == 1
    staff_list = ledger_queries.good_practice_list(session, world.users["city"])
    assert [row.entry for row in staff_list] == [newer]


def test_indicators_fall_back_to_the_published_system(session, app):
    """Before any cycle reaches the unit, its office's published system is offered."""
    from pathlib import Path

    from tests.factories import build_world

    world = build_world(session, Path(app.config["WENMING_UPLOAD_FOLDER"]), issue=False)

    choices = ledger.indicator_choices(session, world.units["school"])

    codes = [c.code for c in choices]
    assert "B4" in codes and "A1" in codes
    assert "D1" not in codes and "G1" not in codes and "V1" not in codes
