"""Ledger pages through the test client: forms, permissions, views, demo data."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from sqlalchemy import func, select

from app.models import EvidenceFile
from app.models.ledger import LedgerEntry
from app.services import demo, ledger
from tests.factories import deploy_shipped, sign_in
from tests.integration.test_ledger import entry_values, jpeg, record


def count(session, model) -> int:
    """Return the number of rows of a model."""
    return session.scalar(select(func.count()).select_from(model))


def test_liaison_records_an_activity_with_a_photo(app, session, world):
    """The form stores the entry and photo; its page shows when the photo was taken."""
    client = sign_in(app, "hospital")
    data = entry_values(session, world)
    data["files"] = [(BytesIO(jpeg("2025:01:18 09:30:00")), "义诊.jpg")]

    response = client.post("/ledger/new", data=data, content_type="multipart/form-data")

    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "春节义诊进社区" in page
    assert "义诊.jpg" in page
    assert 'data-captured-at="2025-01-18T01:30:00+00:00"' in page
    assert "2025-01-18 09:30" in page


def test_wrong_input_is_shown_beside_the_fields_and_nothing_is_stored(
    app, session, world
):
    """A future date and negative hours come back as 422 with both fields marked."""
    client = sign_in(app, "hospital")
    data = entry_values(
        session, world, occurred_on="2099-01-01", volunteer_hours="-2", title=""
    )

    response = client.post("/ledger/new", data=data)

    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'data-error-for="occurred_on"' in page
    assert 'data-error-for="volunteer_hours"' in page
    assert 'data-error-for="title"' in page
    assert count(session, LedgerEntry) == 0


def test_corrupt_photo_upload_gives_a_clear_error(app, session, world):
    """A damaged JPEG is refused by name on the form; no entry is kept."""
    client = sign_in(app, "hospital")
    data = entry_values(session, world)
    data["files"] = [(BytesIO(b"\xff\xd8\xff\xe0" + b"\x00" * 40), "坏.jpg")]

    response = client.post("/ledger/new", data=data, content_type="multipart/form-data")

    assert response.status_code == 422
    assert "坏.jpg: the photo cannot be read" in response.get_data(as_text=True)
    assert count(session, LedgerEntry) == 0
    assert count(session, EvidenceFile) == 0


def test_permissions_on_entry_pages(app, session, world):
    """Other unit 404, other county 404, reviewer may read but not edit (403)."""
    entry_id = record(session, world).id

    assert sign_in(app, "school").get(f"/ledger/{entry_id}").status_code == 404
    assert sign_in(app, "county2").get(f"/ledger/{entry_id}").status_code == 404
    reviewer = sign_in(app, "county")
    assert reviewer.get(f"/ledger/{entry_id}").status_code == 200
    assert reviewer.get(f"/ledger/{entry_id}/edit").status_code == 403
    assert reviewer.post(f"/ledger/{entry_id}/delete").status_code == 403
    assert reviewer.get("/ledger/new").status_code == 403
    assert count(session, LedgerEntry) == 1


def test_liaison_edits_uploads_and_deletes(app, session, world):
    """Edit the title, add a file on the entry page, then delete the entry."""
    entry_id = record(session, world).id
    client = sign_in(app, "hospital")

    data = entry_values(session, world, title="春节义诊（补记）")
    assert client.post(f"/ledger/{entry_id}/edit", data=data).status_code == 302
    upload = client.post(
        f"/ledger/{entry_id}/evidence",
        data={"files": [(BytesIO(b"%PDF-1.4\n%%EOF\n"), "方案.pdf")]},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 302
    page = client.get(f"/ledger/{entry_id}").get_data(as_text=True)
    assert "春节义诊（补记）" in page and "方案.pdf" in page

    assert client.post(f"/ledger/{entry_id}/delete").status_code == 302
    assert count(session, LedgerEntry) == 0


def media(brand: bytes) -> bytes:
    """Return the start of an ISO media file (MP4, HEIC) of the given brand."""
    return b"\x00\x00\x00\x18ftyp" + brand + b"\x00\x00\x00\x00isom" + b"\x00" * 64


def test_video_of_an_activity_is_kept_and_downloads(app, session, world):
    """An MP4 added to an entry is listed as video and downloads as video/mp4."""
    entry_id = record(session, world).id
    client = sign_in(app, "hospital")

    client.post(
        f"/ledger/{entry_id}/evidence",
        data={"files": [(BytesIO(media(b"mp42")), "义诊现场.mp4")]},
        content_type="multipart/form-data",
    )

    page = client.get(f"/ledger/{entry_id}").get_data(as_text=True)
    assert 'data-kind="video"' in page and "义诊现场.mp4" in page
    video = session.scalars(select(EvidenceFile)).one()
    download = sign_in(app, "county").get(f"/tasks/evidence/{video.id}")
    assert download.status_code == 200
    assert download.mimetype == "video/mp4"


def test_heic_photo_is_refused_not_taken_for_a_video(app, session, world):
    """A HEIC photo from a phone is refused by name instead of listed as video."""
    entry_id = record(session, world).id
    client = sign_in(app, "hospital")

    client.post(
        f"/ledger/{entry_id}/evidence",
        data={"files": [(BytesIO(media(b"heic")), "IMG_0001.HEIC")]},
        content_type="multipart/form-data",
    )

    page = client.get(f"/ledger/{entry_id}").get_data(as_text=True)
    assert "IMG_0001.HEIC: only photos (JPEG, PNG, GIF, WebP)" in page
    assert count(session, EvidenceFile) == 0


def test_list_filters_by_indicator_and_month(app, session, world):
    """The list shows only the January B4 entry; a bad month is flagged, not fatal."""
    record(session, world, occurred_on="2025-01-18")
    record(session, world, occurred_on="2025-02-18", title="元宵节猜灯谜")
    record(session, world, code="C2", occurred_on="2025-01-20", title="志愿导医")
    client = sign_in(app, "county")

    page = client.get("/ledger/?indicator=B4&month=2025-01").get_data(as_text=True)
    assert "春节义诊进社区" in page
    assert "元宵节猜灯谜" not in page and "志愿导医" not in page

    bad = client.get("/ledger/?month=2025-13")
    assert bad.status_code == 200
    assert "Enter a month such as 2025-03." in bad.get_data(as_text=True)


def test_calendar_shows_entries_on_their_day_and_moves_by_month(app, session, world):
    """March 2025 shows the entry on the 5th; the links lead to February and April."""
    record(session, world, "school", code="C2", occurred_on="2025-03-05", title="劝导")
    client = sign_in(app, "school")

    page = client.get("/ledger/calendar?month=2025-03").get_data(as_text=True)

    day = page[page.index('data-day="2025-03-05"') :]
    assert "劝导" in day[: day.index("</div>")]
    assert "month=2025-02" in page and "month=2025-04" in page
    filtered = client.get("/ledger/calendar?month=2025-03&indicator=B4")
    assert "劝导" not in filtered.get_data(as_text=True)


def test_coverage_table_and_drill_down(app, session, world):
    """The hospital's B4 cell shows 2 months and links to those entries."""
    record(session, world, occurred_on="2025-01-18")
    record(session, world, occurred_on="2025-01-28", title="元宵灯会")
    record(session, world, occurred_on="2025-09-17", title="中秋慰问")
    record(session, world, occurred_on="2024-09-17", title="去年中秋")
    client = sign_in(app, "county")

    page = client.get("/ledger/coverage?year=2025").get_data(as_text=True)
    row = page[page.index('data-unit="hospital"') :]
    assert 'data-indicator="B4" data-months="2"' in row[: row.index("</tr>")]

    unit_id = world.units["hospital"].id
    drill = client.get(f"/ledger/?unit={unit_id}&indicator=B4&year=2025")
    listed = drill.get_data(as_text=True)
    assert "元宵灯会" in listed and "中秋慰问" in listed
    assert "去年中秋" not in listed
    assert sign_in(app, "hospital").get("/ledger/coverage").status_code == 403


def test_reviewer_marks_good_practice_from_the_entry_page(app, session, world):
    """The mark shows on the entry and in the staff list; a liaison may not set it."""
    entry_id = record(session, world).id

    liaison = sign_in(app, "hospital")
    refused = liaison.post(f"/ledger/{entry_id}/good-practice", data={"value": "1"})
    assert refused.status_code == 403
    reviewer = sign_in(app, "county")
    marked = reviewer.post(f"/ledger/{entry_id}/good-practice", data={"value": "1"})
    assert marked.status_code == 302

    assert 'id="good-practice-badge"' in reviewer.get(f"/ledger/{entry_id}").text
    listing = reviewer.get("/ledger/good-practice").get_data(as_text=True)
    assert f'data-entry-id="{entry_id}"' in listing
    assert session.get(LedgerEntry, entry_id).good_practice


def test_demo_has_the_sample_entries_with_photos(session, app):
    """The demo holds the three sample activities, with dated photos, one published."""
    deploy_shipped(session)
    demo.load_demo(
        session,
        password="demo-password",
        upload_folder=Path(app.config["WENMING_UPLOAD_FOLDER"]),
    )

    titles = {e.title: e for e in session.scalars(select(LedgerEntry))}
    for title in ("春节义诊进社区", "学雷锋日交通文明劝导", "邻里节文艺汇演"):
        assert title in titles
    assert titles["学雷锋日交通文明劝导"].volunteer_hours == 90
    assert titles["邻里节文艺汇演"].participants == 120
    festival = titles["春节义诊进社区"]
    photos = ledger.good_practice_photos(session, festival)
    assert len(photos) == 4
    assert all(p.captured_at and p.captured_at.year == 2025 for p in photos)
    kinds = [f.kind for f in ledger.entry_files(session, titles["邻里节文艺汇演"])]
    assert kinds.count("photo") == 5 and kinds.count("video") == 1
    assert len({e.occurred_on.month for e in titles.values()}) >= 4
