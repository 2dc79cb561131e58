"""Keep automated and flooding submissions off the public report form.

No outside service is involved: a question signed with the application's secret
(a small sum a person answers), a honeypot field people never see, a minimum time
between showing the form and sending it, and a rate limit per client address and
overall, counted in the database so that every web worker shares it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.models import utcnow
from app.models.public import PublicRateHit
from processes.errors import InvalidInput

logger = logging.getLogger(__name__)

DEFAULT_PER_CLIENT_PER_HOUR = 5
DEFAULT_GLOBAL_PER_HOUR = 300
MIN_FILL_SECONDS = 3
MAX_FORM_AGE_SECONDS = 2 * 60 * 60
RATE_WINDOW = timedelta(hours=1)
KEEP_HITS = timedelta(days=2)


@dataclass(frozen=True)
class Challenge:
    """A signed sum to show on the form: the question and its token."""

    first: int
    second: int
    token: str


@dataclass(frozen=True)
class Limits:
    """How many reports are accepted per hour, per client and overall."""

    per_client: int = DEFAULT_PER_CLIENT_PER_HOUR
    overall: int = DEFAULT_GLOBAL_PER_HOUR


def refuse(field: str, code: str, message: str) -> InvalidInput:
    """Return the error of a refused submission, with a code the page translates."""
    return InvalidInput(
        message, details={"errors": {field: message}, "codes": {field: code}}
    )


def new_challenge(secret: str, *, now: float | None = None) -> Challenge:
    """Return a fresh sum to ask, signed with the secret and the time it was shown."""
    first, second = secrets.randbelow(9) + 1, secrets.randbelow(9) + 1
    issued = int(now if now is not None else time.time())
    nonce = secrets.token_hex(8)
    payload = f"{first}.{second}.{issued}.{nonce}"
    return Challenge(first, second, f"{payload}.{_sign(secret, payload)}")


def check_human(
    secret: str,
    token: str,
    answer: str,
    honeypot: str,
    *,
    now: float | None = None,
) -> None:
    """Refuse a form a robot filled: honeypot filled, sent too fast, wrong sum."""
    if (honeypot or "").strip():
        logger.warning("public report refused: honeypot field filled")
        raise refuse("challenge", "honeypot", "the form was not filled in by a person")

    first, second, issued = _read_token(secret, token)
    age = (now if now is not None else time.time()) - issued
    if age < MIN_FILL_SECONDS:
        raise refuse("challenge", "too_fast", "the form was sent too quickly")
    if age > MAX_FORM_AGE_SECONDS:
        raise refuse("challenge", "expired", "the form has expired; reload it")

    if (answer or "").strip() != str(first + second):
        raise refuse("challenge", "wrong_answer", "the answer to the sum is wrong")


def _read_token(secret: str, token: str) -> tuple[int, int, int]:
    parts = (token or "").split(".")
    if len(parts) != 5:
        raise refuse("challenge", "expired", "the form has expired; reload it")
    payload, signature = ".".join(parts[:4]), parts[4]
    if not hmac.compare_digest(_sign(secret, payload), signature):
        raise refuse("challenge", "expired", "the form has expired; reload it")
    try:
        return int(parts[0]), int(parts[1]), int(parts[2])
    except ValueError as error:
        raise refuse("challenge", "expired", "the form has expired") from error


def _sign(secret: str, payload: str) -> str:
    key = f"public-report:{secret}".encode()
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def client_hash(secret: str, address: str | None) -> str:
    """Return a keyed hash of a client address, so the address is never stored."""
    key = f"public-client:{secret}".encode()
    return hmac.new(key, (address or "unknown").encode(), hashlib.sha256).hexdigest()


def check_rate(session: Session, client: str, limits: Limits) -> None:
    """Refuse when the client or everyone together sent too many reports this hour."""
    since = utcnow() - RATE_WINDOW
    recent = select(func.count()).select_from(PublicRateHit)
    recent = recent.where(PublicRateHit.at >= since)
    mine = session.scalar(recent.where(PublicRateHit.client_hash == client))
    if mine >= limits.per_client:
        logger.warning("public report refused: client over its hourly limit")
        raise refuse("", "rate_limited", "too many reports from this address")
    if session.scalar(recent) >= limits.overall:
        logger.warning("public report refused: overall hourly limit reached")
        raise refuse("", "busy", "too many reports right now; try again later")


def count_hit(session: Session, client: str) -> None:
    """Count an accepted report against the client; drop hits too old to matter."""
    stale = PublicRateHit.at < utcnow() - KEEP_HITS
    session.execute(delete(PublicRateHit).where(stale))
    session.add(PublicRateHit(client_hash=client))
