"""Flask extensions, created once here and bound to the app in the factory."""

from __future__ import annotations

import sqlite3

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from app.models import Base, User

db = SQLAlchemy(metadata=Base.metadata)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Return the signed-in user, or None once the account is gone or disabled."""
    try:
        user = db.session.get(User, int(user_id))
    except ValueError:
        return None
    if user is None or not user.active:
        return None
    return user


def set_sqlite_pragmas(dbapi_connection: object, connection_record: object) -> None:
    """Turn on foreign keys, write-ahead logging and WAL-safe syncing on SQLite."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        # With WAL, NORMAL keeps the database consistent through a crash; only the
        # last commits before a power loss may be lost, and a commit needs no fsync.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()
