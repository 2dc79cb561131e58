"""API tokens: issuing them against a password, checking them, revoking them."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.auth.signin import RATE_LIMITED, sign_in
from app.models import ApiToken, User, record_event, utcnow
from app.services.base import transaction
from processes.errors import InvalidInput, NotFound, Unauthorized

logger = logging.getLogger(__name__)

TOKEN_BYTES = 32
PREFIX_CHARS = 8
MAX_NAME_CHARS = 80
TOUCH_INTERVAL = timedelta(minutes=1)


def hash_token(token: str) -> str:
    """Return the sha256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session,
    *,
    username: str,
    password: str,
    name: str = "",
    remote_addr: str | None = None,
) -> tuple[str, ApiToken]:
    """Check the credentials like a sign-in and return a new token and its row."""
    name = _token_name(name)
    result = sign_in(session, username, password, remote_addr)
    session.commit()
    if not result.ok:
        raise Unauthorized(_refusal(result.reason, result.retry_at))

    token = secrets.token_urlsafe(TOKEN_BYTES)
    with transaction(session):
        record = ApiToken(
            user_id=result.user.id,
            name=name,
            token_hash=hash_token(token),
            prefix=token[:PREFIX_CHARS],
        )
        session.add(record)
        session.flush()
        record_event(
            session,
            "api_token.issued",
            actor_id=result.user.id,
            object_type="api_token",
            object_id=record.id,
            name=name,
            prefix=record.prefix,
            remote_addr=remote_addr or "",
        )
    logger.info("API token %s issued to %s", record.prefix, result.user.username)
    return token, record


def authenticate(
    session: Session, token: str | None, *, now: datetime | None = None
) -> User | None:
    """Return the active user a valid, unrevoked token belongs to, else None."""
    if not token:
        return None
    record = session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)
        )
    )
    if record is None or not record.user.active:
        return None

    now = now or utcnow()
    if record.last_used_at is None or now - record.last_used_at >= TOUCH_INTERVAL:
        _touch(session, record, now)
    return record.user


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    """Return the user's tokens, newest first, revoked ones included."""
    query = (
        select(ApiToken)
        .where(ApiToken.user_id == user.id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return list(session.scalars(query))


def revoke_token(session: Session, user: User, token_id: int) -> ApiToken:
    """Revoke one of the user's own tokens; revoking twice changes nothing."""
    with transaction(session):
        record = session.get(ApiToken, token_id)
        if record is None or record.user_id != user.id:
            raise NotFound(f"token {token_id} does not exist or is not yours")
        if record.revoked_at is not None:
            return record
        record.revoked_at = utcnow()
        record_event(
            session,
            "api_token.revoked",
            actor_id=user.id,
            object_type="api_token",
            object_id=record.id,
            prefix=record.prefix,
        )
    logger.info("API token %s revoked by %s", record.prefix, user.username)
    return record


def _token_name(name: object) -> str:
    if name is None:
        return ""
    if not isinstance(name, str):
        raise InvalidInput(
            "the token name must be text", details={"errors": {"name": "enter text"}}
        )
    name = name.strip()
    if len(name) > MAX_NAME_CHARS:
        message = f"at most {MAX_NAME_CHARS} characters (now {len(name)})"
        raise InvalidInput(
            f"the token name is too long: {message}",
            details={"errors": {"name": message}},
        )
    return name


def _refusal(reason: str | None, retry_at: datetime | None) -> str:
    if reason == RATE_LIMITED and retry_at is not None:
        when = retry_at.strftime("%Y-%m-%d %H:%M UTC")
        return f"too many failed sign-in attempts; try again after {when}"
    if reason == "inactive":
        return "this account is disabled; ask your office administrator"
    return "wrong user name or password"


def _touch(session: Session, record: ApiToken, now: datetime) -> None:
    # Checking the minute in SQL keeps concurrent requests from queuing on the row.
    with transaction(session):
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == record.id)
            .where(
                or_(
                    ApiToken.last_used_at.is_(None),
                    ApiToken.last_used_at <= now - TOUCH_INTERVAL,
                )
            )
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
