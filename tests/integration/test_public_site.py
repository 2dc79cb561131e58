"""The public site without login: units, good practice, articles; staff articles."""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from PIL import Image
from sqlalchemy import select

from app.models import AuditEvent, EvidenceFile, Indicator
from app.models.ledger import LedgerEntry
from app.models.public import PublicArticle
from app.services import articles, public_reports, report_guard, tasks
from app.services.evidence import evidence_path
from tests.factories import sign_in
from tests.integration.test_ledger import add_file, jpeg, record


def add_entry(session, world, unit_code: str, *, good: bool) -> LedgerEntry:
    """Add a ledger entry with one photo, marked good practice or not."""
    indicator = session.scalars(
        select(Indicator).where(
            Indicator.system_id == world.system.id, Indicator.code == "B4"
        )
    ).one()
    entry = LedgerEntry(
        unit_id=world.units[unit_code].id,
        indicator_id=indicator.id,
        indicator_code="B4",
        occurred_on=date(2025, 1, 18),
        title=f"春节义诊进社区 {unit_code} {good}",
        description="32 名医护人员参加",
        good_practice=good,
    )
    session.add(entry)
    session.flush()
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3 + good)).save(out, format="PNG")
    content = out.getvalue()
    import hashlib

    digest = hashlib.sha256(content).hexdigest()
    path = evidence_path(world.upload_folder, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    photo = EvidenceFile(
        sha256=digest,
        filename="a.png",
        content_type="image/png",
        kind="photo",
        size_bytes=len(content),
        unit_id=entry.unit_id,
        ledger_entry_id=entry.id,
    )
    session.add(photo)
    session.commit()
    return entry


def test_unit_list_shows_titled_units_only(client, world):
    """The list shows units holding a title (named, warned, rectifying) only."""
    page = client.get("/public/?lang=en").get_data(as_text=True)
    assert "县人民医院" in page and "某银行县支行" in page
    assert "某新材料有限公司" not in page and "县第一中学" not in page
    assert "Yellow card" in page or "yellow_card" in page


def test_unit_list_search_and_level_filter(client, world):
    """Searching by name and filtering by level narrow the list."""
    found = client.get("/public/?q=医院").get_data(as_text=True)
    assert "县人民医院" in found and "县税务局" not in found
    province = client.get("/public/?level=province").get_data(as_text=True)
    assert "县税务局" in province and "县人民医院" not in province
    odd = client.get("/public/?q=%25_&page=x")
    assert odd.status_code == 200 and 'data-total="0"' in odd.get_data(as_text=True)


def test_unit_page_shows_published_good_practice_and_its_photos(client, session, world):
    """Only good-practice entries and their photos are public."""
    shown = add_entry(session, world, "hospital", good=True)
    hidden = add_entry(session, world, "hospital", good=False)
    unit_id = world.units["hospital"].id

    page = client.get(f"/public/units/{unit_id}").get_data(as_text=True)
    assert shown.title in page and hidden.title not in page

    def photo_of(entry):
        return session.scalars(
            select(EvidenceFile).where(EvidenceFile.ledger_entry_id == entry.id)
        ).one()

    assert client.get(f"/public/photos/{photo_of(shown).id}").status_code == 200
    assert client.get(f"/public/photos/{photo_of(hidden).id}").status_code == 404


def test_good_practice_marked_by_the_office_appears_on_the_public_page(
    app, client, session, world
):
    """The county marks an entry on its page; the public sees it until unmarked."""
    entry = record(session, world, title="春节义诊进社区")
    add_file(session, world, entry, "义诊.jpg", jpeg())
    public_page = f"/public/units/{world.units['hospital'].id}"
    assert "春节义诊进社区" not in client.get(public_page).get_data(as_text=True)

    reviewer = sign_in(app, "county")
    reviewer.post(f"/ledger/{entry.id}/good-practice", data={"value": "1"})
    page = client.get(public_page).get_data(as_text=True)
    assert f'data-entry-id="{entry.id}"' in page and "春节义诊进社区" in page
    photo = page.split('<img src="')[1].split('"')[0]
    assert client.get(photo).status_code == 200

    reviewer.post(f"/ledger/{entry.id}/good-practice", data={"value": "0"})
    assert "春节义诊进社区" not in client.get(public_page).get_data(as_text=True)
    assert client.get(photo).status_code == 404


def photo_with_position() -> bytes:
    """Return a JPEG whose EXIF holds a capture time and a GPS position."""
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = "2025:01:18 09:30:00"
    exif.get_ifd(0x8825).update({1: "N", 2: (30.0, 15.0, 0.0), 3: "E"})
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def test_public_good_practice_photo_has_no_position_the_office_copy_keeps_it(
    app, client, session, world
):
    """The public gets the photo without EXIF; the office downloads the original."""
    entry = record(session, world, title="学雷锋日交通文明劝导")
    photo = add_file(session, world, entry, "劝导.jpg", photo_with_position())
    reviewer = sign_in(app, "county")
    reviewer.post(f"/ledger/{entry.id}/good-practice", data={"value": "1"})

    public = client.get(f"/public/photos/{photo.id}")
    original = reviewer.get(f"/tasks/evidence/{photo.id}")

    assert public.status_code == 200 and public.mimetype == "image/jpeg"
    shown = Image.open(io.BytesIO(public.data))
    assert shown.size == (64, 48)
    assert dict(shown.getexif()) == {}
    assert original.status_code == 200
    kept = Image.open(io.BytesIO(original.data)).getexif()
    assert kept.get_ifd(0x8825)[1] == "N"


def test_many_visitors_opening_a_new_photo_at_once_all_get_it(
    app, client, session, world
):
    """Eight first requests for the same photo all succeed while its copy is made."""
    entry = record(session, world, title="邻里节文艺汇演")
    photo = add_file(session, world, entry, "汇演.jpg", photo_with_position())
    sign_in(app, "county").post(
        f"/ledger/{entry.id}/good-practice", data={"value": "1"}
    )
    url, start = f"/public/photos/{photo.id}", threading.Barrier(8)

    def visit() -> int:
        visitor = app.test_client()
        start.wait()
        return visitor.get(url).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: visit(), range(8)))

    assert statuses == [200] * 8


def test_untitled_unit_page_is_not_found(client, world):
    """A unit without a title has no public page."""
    response = client.get(f"/public/units/{world.units['materials'].id}")
    assert response.status_code == 404


HOSTILE = (
    "### 标题\n\n<script>alert('x')</script>\n\n"
    '<img src=x onerror="alert(1)">\n\n[点我](javascript:alert(1))\n\n'
    '<a href="https://example.org" onclick="steal()">链接</a>'
)


def write_article(session, world, body: str = HOSTILE) -> PublicArticle:
    """Have the county administrator write and publish an article."""
    county = world.users["county"]
    article = articles.create_article(
        session,
        county,
        {
            "title": "县文明办动态",
            "summary": "摘要",
            "body": body,
            "office_id": world.offices["X01"].id,
        },
    )
    return articles.set_published(session, county, article.id, True)


def test_articles_render_sanitized_markdown(client, session, world):
    """Scripts, event handlers and javascript: links are stripped from articles."""
    article = write_article(session, world)

    listing = client.get("/public/articles").get_data(as_text=True)
    assert "县文明办动态" in listing
    page = client.get(f"/public/articles/{article.id}").get_data(as_text=True)
    body = page.split('class="public-article__body">')[1].split("</div>")[0]
    assert "<h3>标题</h3>" in body
    assert "<script" not in body and "onerror" not in body
    assert "onclick" not in body and "javascript:" not in body
    assert 'href="https://example.org"' in body


def test_draft_articles_are_not_public(client, session, world):
    """A draft, or an article taken back, is not on the public site."""
    article = write_article(session, world, body="正文")
    articles.set_published(session, world.users["county"], article.id, False)
    assert client.get(f"/public/articles/{article.id}").status_code == 404
    assert "县文明办动态" not in client.get("/public/articles").get_data(as_text=True)


def test_office_admin_writes_previews_and_publishes_in_the_browser(app, session, world):
    """The pages let an administrator preview and publish; audited."""
    client = sign_in(app, "county")
    data = {
        "office_id": str(world.offices["X01"].id),
        "title": "新文章",
        "summary": "",
        "body": "**加粗**<script>x()</script>",
    }
    preview = client.post(
        "/public/manage/articles/new", data={**data, "action": "preview"}
    )
    assert "<strong>加粗</strong>" in preview.get_data(as_text=True)
    assert session.scalars(select(PublicArticle)).all() == []

    saved = client.post("/public/manage/articles/new", data={**data, "action": "save"})
    article = session.scalars(select(PublicArticle)).one()
    assert saved.status_code == 302 and article.status == "draft"
    client.post(
        f"/public/manage/articles/{article.id}", data={**data, "action": "publish"}
    )
    session.refresh(article)
    assert article.status == "published"
    actions = set(session.scalars(select(AuditEvent.action)))
    assert {"article.created", "article.published"} <= actions


def test_liaison_cannot_write_articles(app, world):
    """A unit liaison is refused the article pages."""
    client = sign_in(app, "bank")
    assert client.get("/public/manage/articles").status_code == 403


def file_report(session, world):
    challenge = report_guard.new_challenge("test-secret", now=time.time() - 10)
    guard = public_reports.Guard(
        "test-secret",
        "192.0.2.1",
        challenge.token,
        str(challenge.first + challenge.second),
        "",
    )
    entry = public_reports.ReportInput(
        unit_id=world.units["bank"].id,
        category="service_attitude",
        description="态度差",
        contact_name="王先生",
        contact_phone="13800000000",
    )
    return public_reports.file_report(
        session, entry, guard, upload_folder=world.upload_folder
    )


def test_contact_is_shown_to_the_handling_office_only(app, session, world):
    """Office staff see the reporter's phone; the unit sees the text only."""
    file_report(session, world)
    county = world.users["county"]
    task = tasks.actionable_tasks(session, county)[0]
    office_page = sign_in(app, "county").get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "13800000000" in office_page and "态度差" in office_page

    tasks.complete(session, county, task.id, {"decision": "accept"})
    verify = tasks.actionable_tasks(session, county)[0]
    tasks.complete(
        session,
        county,
        verify.id,
        {
            "confirmed": "yes",
            "findings": "属实",
            "deduction": "G2",
            "rectify_days": "7",
        },
    )
    bank_task = tasks.actionable_tasks(session, world.users["bank"])
    rectify = next(t for t in bank_task if t.form_key == "public_rectify")
    unit_page = sign_in(app, "bank").get(f"/tasks/{rectify.id}").get_data(as_text=True)
    assert "态度差" in unit_page and "13800000000" not in unit_page
    assert "王先生" not in unit_page

    other = sign_in(app, "county2").get(f"/tasks/{task.id}")
    assert other.status_code == 404


def test_only_staff_of_the_handling_office_may_see_the_contact(session, world):
    """County staff see the contact; the city above, admins and units do not."""
    report = file_report(session, world).report

    allowed = {
        name: public_reports.can_see_contact(world.users[name], report)
        for name in ("county", "county_b", "city", "province", "admin", "bank")
    }

    assert allowed == {
        "county": True,
        "county_b": True,
        "city": False,
        "province": False,
        "admin": False,
        "bank": False,
    }
