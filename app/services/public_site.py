"""What anyone may read without signing in: titled units, good practice, articles."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from app.models import EvidenceFile, Unit
from app.models.ledger import LedgerEntry
from app.models.organisation import TITLE_LEVELS
from app.models.public import PublicArticle
from processes.errors import NotFound

TITLED_STATUSES = ("named", "yellow_card", "rectifying")
PAGE_SIZE = 20
MAX_SEARCH_CHARS = 60


@dataclass(frozen=True)
class UnitFilters:
    """The search of the public unit list: name, title level, page."""

    search: str = ""
    level: str = ""
    page: int = 1

    @classmethod
    def from_args(cls, args) -> UnitFilters:
        """Read the filters from query arguments, ignoring what makes no sense."""
        level = args.get("level", "")
        page = args.get("page", "1")
        return cls(
            search=(args.get("q", "") or "").strip()[:MAX_SEARCH_CHARS],
            level=level if level in TITLE_LEVELS else "",
            page=int(page) if page.isdigit() and int(page) > 0 else 1,
        )

    def as_args(self) -> dict[str, str]:
        """Return the filters as query arguments for links to other pages."""
        return {k: v for k, v in (("q", self.search), ("level", self.level)) if v}


@dataclass(frozen=True)
class Listing:
    """One page of a public list."""

    rows: list
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class GoodPractice:
    """A published good-practice entry with the photos that may be shown."""

    entry: LedgerEntry
    photos: list[EvidenceFile]


def _titled():
    return select(Unit).where(
        Unit.title_status.in_(TITLED_STATUSES), Unit.title_level.is_not(None)
    )


def titled_units(session: Session, filters: UnitFilters) -> Listing:
    """Return a page of the units holding a title, searched by name and level."""
    query = _titled()
    if filters.search:
        pattern = f"%{_escape_like(filters.search)}%"
        query = query.where(Unit.name.ilike(pattern, escape="\\"))
    if filters.level:
        query = query.where(Unit.title_level == filters.level)

    total = session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(filters.page, pages)
    rows = session.scalars(
        query.order_by(Unit.name, Unit.id)
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    return Listing(list(rows), total, page, pages)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def unit_choices(session: Session) -> list[Unit]:
    """Return every titled unit by name, for the report form's list."""
    return list(session.scalars(_titled().order_by(Unit.name, Unit.id)))


def titled_unit(session: Session, unit_id: int) -> Unit:
    """Return a unit holding a title, or NotFound for any other unit."""
    unit = session.scalars(_titled().where(Unit.id == unit_id)).first()
    if unit is None:
        raise NotFound(f"no titled unit {unit_id} is shown on the public site")
    return unit


def good_practice(session: Session, unit_id: int) -> list[GoodPractice]:
    """Return the unit's published good practice, each with its public photos."""
    from app.services import ledger

    return [
        GoodPractice(entry, ledger.good_practice_photos(session, entry))
        for entry in ledger.published_good_practice(session, unit_id)
    ]


def public_photo(session: Session, evidence_id: int) -> EvidenceFile:
    """Return a photo only if it belongs to a published good-practice entry."""
    from app.services import ledger

    found = session.get(EvidenceFile, evidence_id)
    entry_id = found.ledger_entry_id if found is not None else None
    entry = session.get(LedgerEntry, entry_id) if entry_id else None
    if entry is None or not entry.good_practice:
        raise NotFound(f"no published photo {evidence_id}")
    if found.id not in {f.id for f in ledger.good_practice_photos(session, entry)}:
        raise NotFound(f"no published photo {evidence_id}")
    titled_unit(session, entry.unit_id)
    return found


def published_articles(session: Session, page: int = 1) -> Listing:
    """Return a page of the published articles, newest first."""
    query = select(PublicArticle).where(PublicArticle.status == "published")
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(page, 1), pages)
    rows = session.scalars(
        query.options(joinedload(PublicArticle.office))
        .order_by(PublicArticle.published_at.desc(), PublicArticle.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    return Listing(list(rows), total, page, pages)


def published_article(session: Session, article_id: int) -> PublicArticle:
    """Return a published article, or NotFound for drafts and unknown ids."""
    article = session.get(PublicArticle, article_id)
    if article is None or article.status != "published":
        raise NotFound(f"article {article_id} is not published")
    return article
