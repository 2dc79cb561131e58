"""The public report form: a code on success, refusals that store nothing."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.models.public import PublicRateHit, PublicReport, PublicReportPhoto
from app.services import report_guard
from tests.factories import anonymous_client, sign_in

SECRET = "test-secret"


def png_bytes(width: int = 40, height: int = 30) -> bytes:
    """Return a small real PNG."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    """Return a JPEG whose EXIF carries a GPS position."""
    image = Image.new("RGB", (64, 48), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (31.0, 14.0, 0.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def form_data(world, *, age: float = 10, answer_offset: int = 0, **changes) -> dict:
    """Return a filled report form with a challenge shown `age` seconds ago."""
    challenge = report_guard.new_challenge(SECRET, now=time.time() - age)
    data = {
        "unit_id": str(world.units["bank"].id),
        "category": "service_attitude",
        "description": "窗口工作人员态度生硬。",
        "contact_name": "王先生",
        "contact_phone": "13800000000",
        "contact_email": "",
        "website": "",
        "challenge_token": challenge.token,
        "challenge_answer": str(challenge.first + challenge.second + answer_offset),
    }
    data.update(changes)
    return data


def post(client, data, photos=(), address="203.0.113.5"):
    """Send the report form from a client address, with photos as uploads."""
    payload = dict(data)
    if photos:
        payload["photos"] = [(io.BytesIO(c), name) for name, c in photos]
    return client.post(
        "/public/report?lang=en",
        data=payload,
        content_type="multipart/form-data",
        environ_base={"REMOTE_ADDR": address},
    )


def stored(session) -> tuple[int, int, int]:
    """Count reports, photos and rate hits stored."""
    return tuple(
        session.scalar(select(func.count()).select_from(model))
        for model in (PublicReport, PublicReportPhoto, PublicRateHit)
    )


def test_form_page_opens_in_chinese_without_login(client, world):
    """An anonymous visitor sees the form in Chinese with the titled units."""
    page = client.get("/public/report").get_data(as_text=True)
    assert '<html lang="zh-Hans">' in page
    assert "某银行县支行" in page
    assert "某新材料有限公司" not in page
    assert 'name="website"' in page and "challenge_token" in page


def test_report_with_photo_gives_a_code_and_tracking_works(client, session, world):
    """A report with a photo shows a long code once; the tracking page finds it."""
    response = post(client, form_data(world), photos=[("a.jpg", jpeg_with_gps())])
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert response.headers["Cache-Control"] == "no-store"
    report = session.scalars(select(PublicReport)).one()
    code = page.split('id="tracking-code">')[1].split("<")[0]
    assert len(code) >= 32 and code not in report.code_hash

    tracked = client.post("/public/track", data={"code": code})
    text = tracked.get_data(as_text=True)
    assert tracked.status_code == 200
    assert "某银行县支行" in text and 'data-milestone="received"' in text
    assert "王先生" not in text and "13800000000" not in text


def test_photo_is_stored_without_gps_metadata(client, session, world, app):
    """The stored photo is re-encoded: no EXIF, so no GPS position, is kept."""
    post(client, form_data(world), photos=[("a.jpg", jpeg_with_gps())])
    photo = session.scalars(select(PublicReportPhoto)).one()
    from app.services.evidence import evidence_path

    path = evidence_path(app.config["WENMING_UPLOAD_FOLDER"], photo.sha256)
    with Image.open(path) as image:
        assert not image.getexif()
    assert b"PhoneMaker" not in path.read_bytes()


def test_report_photo_is_shown_only_to_those_who_see_the_unit(
    client, session, world, app
):
    """The county and the unit see the photo; another county, another unit and a
    visitor do not."""
    post(client, form_data(world), photos=[("a.jpg", jpeg_with_gps())])
    photo = session.scalars(select(PublicReportPhoto)).one()
    url = f"/public/manage/report-photos/{photo.id}"

    for username in ("county", "bank"):
        shown = sign_in(app, username).get(url)
        assert shown.status_code == 200, username
        assert shown.mimetype == "image/jpeg"
        assert "no-store" in shown.headers["Cache-Control"]
        assert Image.open(io.BytesIO(shown.data)).size == (64, 48)
    for username in ("county2", "school"):
        assert sign_in(app, username).get(url).status_code == 404, username
    visitor = anonymous_client(app).get(url)
    assert visitor.status_code == 302 and "/auth/login" in visitor.location


def test_unknown_code_is_a_clear_404(client, world):
    """A wrong tracking code says so."""
    response = client.post("/public/track", data={"code": "not-a-real-code"})
    assert response.status_code == 404
    assert 'id="track-unknown"' in response.get_data(as_text=True)


def test_rate_limit_refuses_the_next_report_from_one_address(
    client, session, app, world
):
    """With a limit of 2 an hour, the third report from one address is refused."""
    app.config["WENMING_PUBLIC_REPORTS_PER_HOUR"] = 2
    for _ in range(2):
        assert post(client, form_data(world)).status_code == 200
    before = stored(session)

    refused = post(client, form_data(world, description="第三次"))
    page = refused.get_data(as_text=True)
    assert refused.status_code == 429
    assert "Too many reports have been sent from your network" in page
    assert "第三次" in page
    assert stored(session) == before
    assert post(client, form_data(world), address="203.0.113.99").status_code == 200


def test_overall_limit_refuses_every_address_for_the_hour(client, session, app, world):
    """Once the hourly total is reached, a new address is asked to try later."""
    app.config["WENMING_PUBLIC_REPORTS_OVERALL_PER_HOUR"] = 2
    for address in ("203.0.113.1", "203.0.113.2"):
        assert post(client, form_data(world), address=address).status_code == 200

    refused = post(client, form_data(world), address="203.0.113.3")

    assert refused.status_code == 429
    assert "Too many reports are arriving right now" in refused.get_data(as_text=True)
    assert stored(session)[0] == 2


def test_address_over_its_limit_is_refused_before_photos_are_read(
    client, session, app, world
):
    """A limited address sending a pixel bomb is told about the limit at once."""
    app.config["WENMING_PUBLIC_REPORTS_PER_HOUR"] = 1
    assert post(client, form_data(world)).status_code == 200

    refused = post(client, form_data(world), photos=[("bomb.png", bomb_png())])

    assert refused.status_code == 429
    assert "too many pixels" not in refused.get_data(as_text=True)
    assert stored(session)[:2] == (1, 0)


def test_wrong_hourly_limit_setting_stops_start_up(tmp_path):
    """A limit that is not a whole number names the variable and the range."""
    from app.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="WENMING_PUBLIC_REPORTS_PER_HOUR.*1 to"):
        load_config(tmp_path, {"WENMING_PUBLIC_REPORTS_PER_HOUR": "many"})
    config = load_config(tmp_path, {"WENMING_PUBLIC_REPORTS_OVERALL_PER_HOUR": "50"})
    assert config["WENMING_PUBLIC_REPORTS_OVERALL_PER_HOUR"] == 50
    assert config["WENMING_PUBLIC_REPORTS_PER_HOUR"] == 5


@pytest.mark.parametrize(
    "changes",
    [
        {"website": "http://spam.example"},
        {"age": 0.5},
        {"answer_offset": 1},
        {"challenge_token": "1.2.3.4.forged"},
    ],
    ids=["honeypot", "too-fast", "wrong-answer", "forged-token"],
)
def test_robot_checks_refuse_and_keep_values(client, session, world, changes):
    """Honeypot, too-fast, wrong or forged challenges are refused, values kept."""
    data = form_data(
        world, **{k: v for k, v in changes.items() if k in ("age", "answer_offset")}
    )
    data.update({k: v for k, v in changes.items() if k not in ("age", "answer_offset")})
    response = post(client, data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="report-refused"' in page
    assert "窗口工作人员态度生硬。" in page
    assert stored(session) == (0, 0, 0)


def bomb_png() -> bytes:
    """Return a small PNG that claims 20000 × 20000 pixels."""
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, format="PNG", optimize=True)
    return out.getvalue()


@pytest.mark.parametrize(
    ("photos", "message"),
    [
        ([("shell.jpg", b"<?php system($_GET['c']); ?>")], "not a photo"),
        ([("page.jpg", b"<html><script>alert(1)</script></html>")], "not a photo"),
        ([("cut.jpg", jpeg_with_gps()[:300])], "damaged"),
        ([("bomb.png", bomb_png())], "too many pixels"),
        ([(f"{n}.png", png_bytes()) for n in range(4)], "at most 3 photos"),
        (
            [("big.png", b"\x89PNG\r\n\x1a\n" + b"0" * (5 * 1024 * 1024 + 1))],
            "at most 5 MB",
        ),
    ],
    ids=["php", "html", "truncated", "bomb", "too-many", "too-large"],
)
def test_hostile_uploads_are_refused_and_nothing_stored(
    client, session, world, app, photos, message
):
    """Non-images, damaged or huge images and too many files store nothing."""
    response = post(client, form_data(world), photos=photos)
    page = response.get_data(as_text=True)
    assert response.status_code == 422, page[:500]
    assert message in page
    assert stored(session) == (0, 0, 0)


def test_missing_description_is_refused(client, session, world):
    """A report without a description asks for one."""
    response = post(client, form_data(world, description="  "))
    assert response.status_code == 422
    assert "Describe the problem." in response.get_data(as_text=True)
    assert stored(session) == (0, 0, 0)
