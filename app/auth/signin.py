"""Checking credentials, recording sign-ins and slowing down password guessing."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from app.models import AuditEvent, User, utcnow

logger = logging.getLogger(__name__)

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)

LOGIN = "auth.login"
LOGIN_FAILED = "auth.login_failed"
LOGOUT = "auth.logout"
RATE_LIMITED = "rate_limited"


@dataclass(frozen=True)
class SignInResult:
    """The outcome of a sign-in attempt; `reason` is None on success."""

    user: User | None
    reason: str | None = None
    retry_at: datetime | None = None

    @property
    def ok(self) -> bool:
        """Tell whether the person may now be signed in."""
        return self.reason is None


def sign_in(
    session: Session,
    username: str,
    password: str,
    remote_addr: str | None,
    now: datetime | None = None,
) -> SignInResult:
    """Check the credentials, record the attempt as an audit event, and say how."""
    now = now or utcnow()
    username = username.strip()[:80]
    detail = {"username": username, "remote_addr": remote_addr or ""}

    retry_at = locked_until(session, username, remote_addr, now)
    if retry_at is not None:
        _record(session, LOGIN_FAILED, None, {**detail, "reason": RATE_LIMITED}, now)
        logger.warning(
            "sign-in refused for %s from %s: too many failures", username, remote_addr
        )
        return SignInResult(None, RATE_LIMITED, retry_at)

    user = session.scalar(select(User).where(User.username == username))
    result = _check(user, password)
    if result.ok:
        _record(session, LOGIN, user, detail, now)
        logger.info("user %s signed in from %s", username, remote_addr)
    else:
        actor = user if result.reason == "inactive" else None
        _record(session, LOGIN_FAILED, actor, {**detail, "reason": result.reason}, now)
        logger.info("failed sign-in for %s from %s", username, remote_addr)
    return result


def record_sign_out(session: Session, user: User, remote_addr: str | None) -> None:
    """Record that the user signed out."""
    detail = {"username": user.username, "remote_addr": remote_addr or ""}
    _record(session, LOGOUT, user, detail, utcnow())
    logger.info("user %s signed out", user.username)


def locked_until(
    session: Session, username: str, remote_addr: str | None, now: datetime
) -> datetime | None:
    """Return when sign-in opens again after too many failures, or None if open."""
    counted = func.coalesce(AuditEvent.detail["reason"].as_string(), "")
    recent = session.scalars(
        select(AuditEvent.at)
        .where(
            AuditEvent.action == LOGIN_FAILED,
            AuditEvent.at >= now - FAILURE_WINDOW - LOCKOUT,
            AuditEvent.detail["username"].as_string() == username,
            AuditEvent.detail["remote_addr"].as_string() == (remote_addr or ""),
            counted != RATE_LIMITED,
        )
        .order_by(AuditEvent.at.desc())
        .limit(MAX_FAILURES)
    ).all()

    if len(recent) < MAX_FAILURES or recent[0] - recent[-1] > FAILURE_WINDOW:
        return None
    reopens_at = recent[0] + LOCKOUT
    return reopens_at if reopens_at > now else None


def _check(user: User | None, password: str) -> SignInResult:
    if user is None:
        # Spend the same time as for a real account, so timing reveals nothing.
        check_password_hash(_unknown_user_hash(), password)
        return SignInResult(None, "bad_credentials")
    if not user.check_password(password):
        return SignInResult(None, "bad_credentials")
    if not user.active:
        return SignInResult(None, "inactive")
    return SignInResult(user)


@cache
def _unknown_user_hash() -> str:
    return generate_password_hash("no account has this password")


def _record(
    session: Session, action: str, user: User | None, detail: dict, now: datetime
) -> None:
    session.add(
        AuditEvent(
            at=now,
            actor_id=user.id if user else None,
            action=action,
            object_type="user" if user else None,
            object_id=user.id if user else None,
            detail=detail,
        )
    )
