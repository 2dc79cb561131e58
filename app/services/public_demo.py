"""Demo articles and a public report for the public site."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Office, Unit, record_event, utcnow
from app.models.public import PublicArticle, PublicReport
from app.services import public_reports
from app.services.base import transaction

logger = logging.getLogger(__name__)

ARTICLES = [
    (
        "X01",
        "县人民医院：春节义诊进社区",
        "县人民医院组织医护志愿者走进社区，为居民提供免费义诊。",
        "### 活动概况\n\n春节期间，县人民医院组织 **32 名** 医护志愿者走进城关街道，"
        "为居民测量血压、讲解慢病防治知识。\n\n- 服务居民 300 余人次\n"
        "- 发放健康手册 500 份\n\n这一做法被列为全县文明单位典型经验。",
    ),
    (
        "X01",
        "幸福社区邻里节文艺汇演",
        "城关街道幸福社区举办邻里节，120 名居民同台演出。",
        "幸福社区以邻里节为载体，组织居民自编自演节目，增进邻里感情。\n\n"
        "| 项目 | 数量 |\n| --- | --- |\n| 参与居民 | 120 人 |\n| 节目 | 15 个 |",
    ),
    (
        "C01",
        "关于开展文明单位年度复查的通知（摘要）",
        "市文明办部署本年度文明单位动态管理和年度复查工作。",
        "各县（区）文明办：\n\n请按照测评体系组织本辖区文明单位开展自查，"
        "并于规定时间内完成网上申报。群众可通过本平台"
        "[举报问题](/public/report)，监督文明单位创建工作。",
    ),
]
DEMO_REPORT = (
    "某银行县支行营业厅窗口工作人员服务态度生硬，办理业务时不耐烦，拒绝解答老人的问题。"
)


def load(session: Session, *, upload_folder: Path) -> None:
    """Add published articles and one report waiting for triage to the demo."""
    offices = {o.code: o for o in session.scalars(select(Office))}
    bank = session.scalars(select(Unit).where(Unit.code == "bank")).first()
    if bank is None or not offices:
        logger.warning("demo organisation missing; public demo records skipped")
        return

    with transaction(session):
        _articles(session, offices)
        _bank_report(session, bank)
    logger.info("public demo records loaded")


def _articles(session: Session, offices: dict[str, Office]) -> None:
    now = utcnow()
    for office_code, title, summary, body in ARTICLES:
        article = PublicArticle(
            office_id=offices[office_code].id,
            title=title,
            summary=summary,
            body=body,
            status="published",
            created_at=now,
            updated_at=now,
            published_at=now,
        )
        session.add(article)
        session.flush()
        record_event(
            session,
            "article.published",
            object_type="public_article",
            object_id=article.id,
            office_id=article.office_id,
            title=title,
        )


def _bank_report(session: Session, bank: Unit) -> None:
    """File the domain sample report; its tracking code is not kept anywhere."""
    code = secrets.token_urlsafe(public_reports.CODE_BYTES)
    report = PublicReport(
        code_hash=public_reports.code_hash(code),
        unit_id=bank.id,
        category="service_attitude",
        description=DEMO_REPORT,
        contact_name="李女士",
        contact_phone="13900000000",
    )
    session.add(report)
    session.flush()
    public_reports.add_milestone(session, report, "received")
    public_reports.start_procedure(session, report, bank)
    record_event(
        session,
        "public_report.received",
        object_type="public_report",
        object_id=report.id,
        unit_id=bank.id,
        category=report.category,
        photos=0,
    )
