"""Demo ledger entries from the domain sample, with small generated photos."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Unit, User
from app.models.ledger import LedgerEntry
from app.services import ledger

logger = logging.getLogger(__name__)

# unit, indicator, date, title, description, people, hours, place, photos, video
SAMPLE_ENTRIES = [
    (
        "hospital",
        "B4",
        date(2025, 1, 18),
        "春节义诊进社区",
        "春节前组织内科、儿科、中医科医生到城东社区开展义诊，测血压血糖，"
        "发放健康手册。",
        32,
        "64",
        "城东社区服务中心",
        4,
        False,
    ),
    (
        "school",
        "C2",
        date(2025, 3, 5),
        "学雷锋日交通文明劝导",
        "学雷锋纪念日，师生志愿者在学校周边路口开展交通文明劝导，每人两小时。",
        45,
        "90",
        "人民路与文化路路口",
        2,
        False,
    ),
    (
        "community",
        "E3",
        date(2025, 4, 10),
        "邻里节文艺汇演",
        "社区邻里节文艺汇演，居民自编自演节目十二个，评选文明家庭五户。",
        120,
        "0",
        "幸福社区文化广场",
        5,
        True,
    ),
]

# unit, indicator, months back from today, title, people, hours
RECENT_ENTRIES = [
    ("hospital", "A1", 0, "党委会专题研究创建工作", 9, "0"),
    ("hospital", "C2", 1, "志愿者门诊导医服务", 20, "60"),
    ("hospital", "B1", 2, "职工理论学习会", 85, "0"),
    ("hospital", "B4", 3, "中秋节送健康进敬老院", 15, "30"),
    ("school", "B2", 0, "道德讲堂：诚信伴我成长", 300, "0"),
    ("school", "C2", 1, "周末志愿服务进社区", 40, "120"),
    ("school", "E2", 4, "校园公益广告更新", 6, "12"),
    ("community", "C1", 0, "志愿服务队例会", 18, "18"),
    ("community", "E3", 2, "广场舞展演", 60, "0"),
    ("bank", "B3", 1, "诚信宣传进商户", 12, "24"),
    ("bank", "E2", 2, "营业厅公益广告屏更新", 4, "4"),
]

GOOD_PRACTICE_TITLE = "春节义诊进社区"


def load(session: Session, *, upload_folder: Path) -> None:
    """Add this area's demo records to a freshly loaded demo organisation."""
    units = {u.code: u for u in session.scalars(select(Unit))}
    users = {u.username: u for u in session.scalars(select(User))}
    for sample in SAMPLE_ENTRIES:
        _sample(session, units, users, upload_folder, sample)
    for recent in RECENT_ENTRIES:
        _recent(session, units, users, upload_folder, recent)
    _mark_good_practice(session, users.get("county"))
    logger.info("demo ledger entries loaded")


def _sample(session: Session, units, users, folder: Path, sample: tuple) -> None:
    code, indicator, day, title, text, people, hours, place, photos, video = sample
    files = [(f"{title}-{n + 1}.jpg", demo_photo(day, n)) for n in range(photos)]
    if video:
        files.append((f"{title}.mp4", tiny_mp4()))
    values = {
        "occurred_on": day.isoformat(),
        "title": title,
        "description": text,
        "participants": str(people),
        "volunteer_hours": hours,
        "place": place,
    }
    _record(session, units[code], users[code], folder, indicator, files, values)


def _recent(session: Session, units, users, folder: Path, recent: tuple) -> None:
    code, indicator, back, title, people, hours = recent
    unit = units[code]
    day = _months_back(ledger.today_for(unit), back)
    files = [
        (f"{title}.jpg", demo_photo(day, back)),
        (f"{title}.pdf", minutes_pdf(title)),
    ]
    values = {
        "occurred_on": day.isoformat(),
        "title": title,
        "participants": str(people),
        "volunteer_hours": hours,
    }
    _record(session, unit, users[code], folder, indicator, files, values)


def _record(session, unit, user, folder, code: str, files, values: dict) -> None:
    choices = {c.code: c.id for c in ledger.indicator_choices(session, unit)}
    if code not in choices:
        logger.warning("demo ledger: %s has no indicator %s", unit.code, code)
        return
    ledger.create_entry(
        session,
        user,
        {**values, "indicator_id": str(choices[code])},
        files=tuple(files),
        upload_folder=folder,
    )


def _months_back(today: date, months: int) -> date:
    """Return a day `months` months before today, never after today."""
    year, month = divmod(today.year * 12 + today.month - 1 - months, 12)
    return min(date(year, month + 1, min(today.day, 12)), today)


def _mark_good_practice(session: Session, reviewer: User | None) -> None:
    if reviewer is None:
        return
    entry_id = session.scalar(
        select(LedgerEntry.id).where(LedgerEntry.title == GOOD_PRACTICE_TITLE)
    )
    if entry_id is not None:
        ledger.set_good_practice(session, reviewer, entry_id, True)


def demo_photo(day: date, seed: int = 0) -> bytes:
    """Return a small JPEG whose EXIF says it was taken that day in the morning."""
    colour = (60 + seed * 37 % 180, 120 + seed * 53 % 120, 90 + seed * 29 % 150)
    image = Image.new("RGB", (480, 360), colour)
    draw = ImageDraw.Draw(image)
    draw.rectangle((40 + seed * 10, 60, 440, 300), outline=(255, 255, 255), width=6)
    draw.ellipse((180, 120, 300, 240), fill=(255, 220, 120))
    taken = datetime.combine(day, datetime.min.time()) + timedelta(
        hours=9, minutes=seed * 7
    )
    exif = Image.Exif()
    exif[306] = taken.strftime("%Y:%m:%d %H:%M:%S")
    exif.get_ifd(0x8769)[36867] = taken.strftime("%Y:%m:%d %H:%M:%S")
    out = BytesIO()
    image.save(out, "JPEG", quality=70, exif=exif.tobytes())
    return out.getvalue()


def tiny_mp4() -> bytes:
    """Return the first box of an MP4 file, enough to be recognised as video."""
    return b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 16


def minutes_pdf(title: str) -> bytes:
    """Return a one-page PDF standing in for an activity's minutes."""
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
        + f"% {title}\n".encode()
        + b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )
