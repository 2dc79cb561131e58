"""Transaction handling shared by the services."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from processes.errors import Conflict

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """Run a block as one step: commit it whole, or roll it back whole."""
    try:
        yield session
        session.commit()
    except IntegrityError as error:
        session.rollback()
        logger.warning("step refused by a database constraint: %s", error.orig)
        raise Conflict(
            "the same change was just made by someone else; reload and check"
        ) from error
    except OperationalError as error:
        session.rollback()
        if _is_lock_failure(error):
            raise Conflict(
                "another change to the same work item is in progress; try again"
            ) from error
        raise
    except BaseException:
        session.rollback()
        raise


def _is_lock_failure(error: OperationalError) -> bool:
    text = str(error.orig).lower()
    return (
        "database is locked" in text
        or "deadlock" in text
        or "could not serialize" in text
    )
