"""Load the demo: the sample offices, units, users, indicator system and a cycle."""

from __future__ import annotations

import logging
import struct
import zlib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Office, User, utcnow
from app.services import (
    cycles,
    indicators,
    ledger_demo,
    organisation,
    public_demo,
    submissions,
    tasks,
)
from app.services.base import transaction
from app.services.demo_data import (
    DEMO_ACCOUNTS,
    INDICATOR_SYSTEM,
    OFFICE_USERS,
    OFFICES,
    UNITS,
)

logger = logging.getLogger(__name__)

CYCLE_NAME = "2026年度文明单位创建任务"


@dataclass
class DemoReport:
    """What the demo loader created, for the people who will sign in."""

    accounts: list[tuple[str, str]] = field(default_factory=list)
    cycle_id: int | None = None


def has_data(session: Session) -> bool:
    """Tell whether the database already holds offices."""
    return session.scalar(select(Office.id).limit(1)) is not None


def load_demo(session: Session, *, password: str, upload_folder: Path) -> DemoReport:
    """Create the demo organisation and a cycle with instances in several states."""
    report = DemoReport(accounts=list(DEMO_ACCOUNTS))
    with transaction(session):
        offices = _offices(session)
        units = _units(session, offices["X01"])
        _users(session, password, offices, units)
        system = indicators.create_system(
            session, office=offices["P01"], **INDICATOR_SYSTEM
        )
        cycle = open_cycle_ahead(session, offices["X01"], system)
    cycles.issue_cycle(session, cycle)
    report.cycle_id = cycle.id
    _advance(session, cycle, upload_folder)
    ledger_demo.load(session, upload_folder=upload_folder)
    public_demo.load(session, upload_folder=upload_folder)
    logger.info("demo data loaded", extra={"cycle_id": cycle.id})
    return report


def _offices(session: Session) -> dict[str, Office]:
    offices: dict[str, Office] = {}
    for code, name, level, parent in OFFICES:
        offices[code] = organisation.create_office(
            session, name=name, code=code, level=level, parent=offices.get(parent)
        )
    return offices


def _units(session: Session, county: Office) -> dict:
    return {
        code: organisation.create_unit(
            session,
            name=name,
            code=code,
            unit_type=unit_type,
            office=county,
            target_level=target,
            title_level=held,
            title_status=status,
        )
        for code, name, unit_type, target, held, status in UNITS
    }


def _users(session, password, offices, units) -> None:
    organisation.create_user(
        session,
        username="admin",
        password=password,
        display_name="系统管理员",
        roles=["admin"],
    )
    for username, display_name, office_code in OFFICE_USERS:
        organisation.create_user(
            session,
            username=username,
            password=password,
            display_name=display_name,
            roles=["reviewer", "office_admin"],
            office=offices[office_code],
        )
    for code, unit in units.items():
        organisation.create_user(
            session,
            username=code,
            password=password,
            display_name=f"{unit.name}联络员",
            roles=["liaison"],
            unit=unit,
        )


def open_cycle_ahead(session: Session, office, system, name: str = CYCLE_NAME):
    """Open a cycle whose deadlines lie two to six weeks ahead."""
    now = utcnow().replace(microsecond=0)
    return cycles.open_cycle(
        session,
        office=office,
        name=name,
        indicator_system=system,
        submission_due=now + timedelta(days=14),
        county_review_due=now + timedelta(days=28),
        city_review_due=now + timedelta(days=35),
        province_review_due=now + timedelta(days=42),
    )


def _advance(session: Session, cycle, upload_folder: Path) -> None:
    """Move some creation tasks along so the demo shows several states."""
    users = {u.username: u for u in session.scalars(select(User))}
    county = users["county"]
    for liaison in ("hospital", "school", "taxbureau", "community"):
        submit_complete(session, users[liaison], upload_folder)
    submissions.save_draft(
        session,
        users["bank"],
        _task_of(session, users["bank"]).id,
        {"A3": {"self_score": 4, "explanation": "创建档案按月整理归档。"}},
    )
    review(session, county, "hospital", "approve")
    review(session, county, "community", "approve")
    review(session, county, "taxbureau", "rectify")


def _task_of(session: Session, user: User, unit_username: str | None = None):
    for task in tasks.actionable_tasks(session, user):
        if unit_username is None or task.unit.code == unit_username:
            return task
    raise LookupError(f"no task waits for {user.username}")


def submit_complete(
    session: Session, liaison: User, upload_folder: Path, task=None
) -> None:
    """Fill in and submit a liaison's creation task with the evidence it needs."""
    task = task or _task_of(session, liaison)
    system = submissions.indicator_system_of(session, task)
    responses = {}
    for indicator in system.scoring_indicators():
        if not indicator.answerable_by_unit or indicator.kind != "base":
            continue
        for number in range(indicator.min_photos):
            submissions.attach_evidence(
                session,
                liaison,
                task.id,
                indicator.code,
                filename=f"{indicator.code}-现场照片{number + 1}.png",
                content=tiny_png(number + indicator.id),
                upload_folder=upload_folder,
            )
        for number in range(indicator.min_documents):
            submissions.attach_evidence(
                session,
                liaison,
                task.id,
                indicator.code,
                filename=f"{indicator.code}-会议纪要{number + 1}.pdf",
                content=tiny_pdf(f"{indicator.code}-{number}"),
                upload_folder=upload_folder,
            )
        explanation = demo_explanation(indicator.name, indicator.min_explanation_chars)
        responses[indicator.code] = {
            "self_score": str(indicator.points - 1),
            "explanation": explanation,
        }
    tasks.complete(session, liaison, task.id, {"responses": responses})


DETAILS = (
    "活动有方案、有记录、有总结，参与人数和时间均登记在台账中。",
    "照片显示活动时间、地点、主办单位和主题，会议纪要已归档。",
    "单位负责人带头参加，职工参与率较上年明显提高。",
    "群众反映良好，相关做法已在单位公众号上宣传。",
)


def demo_explanation(indicator_name: str, min_chars: int) -> str:
    """Return a plausible explanation of at least `min_chars` characters."""
    text = f"{indicator_name}：按年度计划开展。"
    for detail in DETAILS:
        if len(text) >= min_chars:
            break
        text += detail
    while len(text) < min_chars:
        text += DETAILS[len(text) % len(DETAILS)]
    return text


def review_data(system, decision: str) -> dict:
    """Return review form data scoring each base indicator one below full points."""
    scores = {
        i.code: str(i.points - 1)
        for i in system.scoring_indicators()
        if i.kind == "base"
    }
    data = {"decision": decision, "scores": scores, "opinion": "材料基本齐全。"}
    if decision == "rectify":
        data["items"] = [
            {"indicator": "B4", "description": "节日活动照片未显示单位名称"}
        ]
        data["rectification_due"] = (utcnow() + timedelta(days=7)).isoformat()
    if decision == "fail":
        data["fail_reason"] = "材料严重不实"
    return data


def review(session: Session, reviewer: User, unit_code: str, decision: str) -> None:
    """Review a unit's task at the reviewer's level with plausible scores."""
    task = _task_of(session, reviewer, unit_code)
    system = submissions.indicator_system_of(session, task)
    tasks.complete(session, reviewer, task.id, review_data(system, decision))


def tiny_png(seed: int = 0) -> bytes:
    """Return a valid 1×1 PNG whose colour depends on the seed."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixel = zlib.compress(bytes([0, seed % 256, (seed * 7) % 256, 200]))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", pixel)
        + chunk(b"IEND", b"")
    )


def tiny_pdf(text: str = "") -> bytes:
    """Return a small one-page PDF document."""
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
        + f"% {text}\n".encode()
        + b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )
