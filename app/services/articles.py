"""Articles offices write for the public site: Markdown drafts, then published."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Office, User, record_event, utcnow
from app.models.public import PublicArticle
from app.services import scope
from app.services.base import transaction
from app.services.fields import FieldErrors, text
from processes.errors import Forbidden, InvalidInput, NotFound

logger = logging.getLogger(__name__)

MAX_TITLE_CHARS = 200
MAX_SUMMARY_CHARS = 500
MAX_BODY_CHARS = 50_000


def can_write(user: User) -> bool:
    """Tell whether the user writes articles: an office administrator or admin."""
    if user.has_role("admin"):
        return True
    return user.has_role("office_admin") and user.office_id is not None


def check_writer(user: User) -> None:
    """Raise Forbidden unless the user may write articles."""
    if not can_write(user):
        raise Forbidden("only office administrators write articles for the public")


def offices_for(session: Session, user: User) -> list[Office]:
    """Return the offices the user may publish in the name of."""
    check_writer(user)
    query = select(Office).order_by(Office.path)
    if not user.has_role("admin"):
        query = query.where(Office.path.startswith(user.office.path, autoescape=True))
    return list(session.scalars(query))


def articles_for(session: Session, user: User) -> list[PublicArticle]:
    """Return the articles of the user's offices, drafts included, newest first."""
    ids = [office.id for office in offices_for(session, user)]
    query = (
        select(PublicArticle)
        .where(PublicArticle.office_id.in_(ids))
        .order_by(PublicArticle.updated_at.desc(), PublicArticle.id.desc())
    )
    return list(session.scalars(query))


def article_for(session: Session, user: User, article_id: int) -> PublicArticle:
    """Return an article of the user's offices, or NotFound."""
    check_writer(user)
    article = session.get(PublicArticle, article_id)
    if article is None or not scope.sees_path(user, article.office.path):
        raise NotFound(f"article {article_id} does not exist or is outside your scope")
    return article


def read_article(session: Session, user: User, values: dict) -> dict:
    """Check an article's fields and office; return them, or raise every error."""
    errors = FieldErrors()
    title = text(
        errors, "title", values.get("title"), required=True, max_chars=MAX_TITLE_CHARS
    )
    summary = text(
        errors, "summary", values.get("summary"), max_chars=MAX_SUMMARY_CHARS
    )
    body = text(
        errors, "body", values.get("body"), required=True, max_chars=MAX_BODY_CHARS
    )
    offices = {str(office.id): office for office in offices_for(session, user)}
    office = offices.get(str(values.get("office_id") or ""))
    if office is None:
        errors.add("office_id", "choose the office that publishes the article")
    errors.raise_if_any("the article was not saved")
    return {"title": title, "summary": summary, "body": body, "office_id": office.id}


def create_article(session: Session, user: User, values: dict) -> PublicArticle:
    """Save a new article as a draft."""
    with transaction(session):
        fields = read_article(session, user, values)
        article = PublicArticle(author_id=user.id, status="draft", **fields)
        session.add(article)
        session.flush()
        _audit(session, user, "article.created", article)
    return article


def update_article(
    session: Session, user: User, article_id: int, values: dict
) -> PublicArticle:
    """Change an article's text; a published article stays published."""
    with transaction(session):
        article = article_for(session, user, article_id)
        for key, value in read_article(session, user, values).items():
            setattr(article, key, value)
        article.updated_at = utcnow()
        _audit(session, user, "article.updated", article)
    return article


def set_published(
    session: Session, user: User, article_id: int, published: bool
) -> PublicArticle:
    """Publish an article on the public site, or take it back to draft."""
    with transaction(session):
        article = article_for(session, user, article_id)
        if published and not article.body.strip():
            raise InvalidInput("an article without a body cannot be published")
        article.status = "published" if published else "draft"
        article.published_at = utcnow() if published else None
        article.updated_at = utcnow()
        action = "article.published" if published else "article.unpublished"
        _audit(session, user, action, article)
    logger.info("article %s %s", article.id, article.status)
    return article


def _audit(session: Session, user: User, action: str, article: PublicArticle) -> None:
    record_event(
        session,
        action,
        actor_id=user.id,
        object_type="public_article",
        object_id=article.id,
        office_id=article.office_id,
        title=article.title,
    )
