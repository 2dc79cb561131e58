"""The leader lock: only one scheduler process at a time runs the jobs.

On PostgreSQL the lock is a session-level advisory lock held on a dedicated
connection, so it is released by the server as soon as the holder's connection
closes. On SQLite (one machine, development) it is an exclusive `flock` on a file
next to the database, released by the kernel when the holder exits.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import IO

from flask import Flask
from sqlalchemy import Connection, Engine, create_engine, func, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

logger = logging.getLogger(__name__)

# "WENMING" in ASCII, as a 64-bit advisory lock key.
ADVISORY_LOCK_KEY = 0x57454E4D494E47
LOCK_FILE_NAME = "scheduler.lock"
POLL_SECONDS = 5.0


class LeaderLock:
    """A lock that one process holds for its whole life as the scheduler."""

    description = "leader lock"

    def try_acquire(self) -> bool:
        """Take the lock if it is free; return whether this process now holds it."""
        raise NotImplementedError

    def release(self) -> None:
        """Give the lock back so that a waiting process can take over."""
        raise NotImplementedError

    def still_held(self) -> bool:
        """Tell whether the lock taken earlier is still this process's."""
        raise NotImplementedError

    def acquire(
        self,
        *,
        poll_seconds: float = POLL_SECONDS,
        stop: threading.Event | None = None,
    ) -> bool:
        """Wait until the lock is ours; return False if `stop` is set first."""
        stop = stop or threading.Event()
        if self.try_acquire():
            logger.info("scheduler is the leader (%s)", self.description)
            return True

        logger.info(
            "another scheduler holds the %s; waiting, checking every %s s",
            self.description,
            poll_seconds,
        )
        while not stop.wait(poll_seconds):
            if self.try_acquire():
                logger.info(
                    "the previous scheduler is gone; taking over (%s)",
                    self.description,
                )
                return True
        logger.info("stopped while waiting for the %s", self.description)
        return False


class PostgresLeaderLock(LeaderLock):
    """A session-level advisory lock on its own PostgreSQL connection."""

    def __init__(self, url: str, key: int = ADVISORY_LOCK_KEY) -> None:
        self.key = key
        self.description = f"PostgreSQL advisory lock {key}"
        self._engine: Engine = create_engine(
            url, poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
        self._connection: Connection | None = None

    @property
    def held(self) -> bool:
        """Return whether this object holds the lock."""
        return self._connection is not None

    def try_acquire(self) -> bool:
        """Take the advisory lock if no other session holds it."""
        if self._connection is not None:
            return True
        connection = self._engine.connect()
        query = select(func.pg_try_advisory_lock(self.key))
        if connection.execute(query).scalar():
            self._connection = connection
            return True

        connection.close()
        return False

    def still_held(self) -> bool:
        """Ask the server over the lock's connection; a dropped one lost the lock."""
        if self._connection is None:
            return False
        try:
            self._connection.execute(select(1))
        except DBAPIError as error:
            logger.warning("the leader lock's connection is gone: %s", error.orig)
            connection, self._connection = self._connection, None
            connection.invalidate()
            return False
        return True

    def release(self) -> None:
        """Unlock, close the dedicated connection and dispose of its engine."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.execute(select(func.pg_advisory_unlock(self.key)))
            finally:
                connection.close()
        self._engine.dispose()


class FileLeaderLock(LeaderLock):
    """An exclusive `flock` on a file, for SQLite on a single machine."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.description = f"file lock {self.path}"
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        """Return whether this object holds the lock."""
        return self._file is not None

    def try_acquire(self) -> bool:
        """Lock the file without blocking if no other holder has it."""
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - kept open while held
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False

        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    def still_held(self) -> bool:
        """Tell whether the file is still open; the kernel keeps its lock till then."""
        return self._file is not None

    def release(self) -> None:
        """Unlock and close the lock file."""
        handle, self._file = self._file, None
        if handle is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()


def database_url(app: Flask) -> URL:
    """Return the URL of the app's engine, relative SQLite paths resolved."""
    from app.extensions import db

    with app.app_context():
        return db.engine.url


def leader_lock_for(app: Flask) -> LeaderLock:
    """Return the leader lock that suits the app's database."""
    url = database_url(app)
    if url.get_backend_name() == "postgresql":
        return PostgresLeaderLock(url.render_as_string(hide_password=False))
    return FileLeaderLock(lock_file_path(app))


def lock_file_path(app: Flask) -> Path:
    """Return the lock file next to the SQLite database (or in the instance folder)."""
    database = database_url(app).database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return Path(app.instance_path) / LOCK_FILE_NAME
    return Path(database).resolve().parent / LOCK_FILE_NAME
