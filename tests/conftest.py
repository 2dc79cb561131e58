"""Test harness: the app on SQLite and PostgreSQL, sessions, CLI runner, users."""

from __future__ import annotations

import functools
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db
from app.models import Base
from processes.registry import SPEC_CACHE
from scheduler.runtime import JOB_TABLE

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PG_ENV = "WENMING_TEST_DATABASE_URL"


def corpus_dir() -> Path:
    """Return the shared BPMN corpus folder."""
    configured = os.environ.get("WENMING_BPMN_CORPUS")
    if configured:
        return Path(configured)
    return PROJECT_ROOT.parent / "shared" / "corpus" / "bpmn"


def _postgres_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if not url:
        return None
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(autouse=True)
def hash_each_password_once(monkeypatch):
    """Hash a given password once per run; scrypt per test user would dominate."""
    from app.models import organisation

    monkeypatch.setattr(organisation, "generate_password_hash", _cached_hash)


@functools.cache
def _cached_hash(password: str) -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash(password)


@pytest.fixture(scope="session")
def postgres_database():
    """Create this run's own PostgreSQL database, and drop it at the end."""
    base_url = _postgres_url()
    if base_url is None:
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    name = f"wenming_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def database_params() -> list:
    """Return the databases to run on: SQLite always, PostgreSQL when configured."""
    return ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=database_params())
def database_url(request, tmp_path):
    """Yield an empty database URL of each configured kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'wenming.db'}"
        engine = create_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        yield url
        return
    url = request.getfixturevalue("postgres_database")
    yield url
    engine = create_engine(url)
    with engine.begin() as connection:
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        # The scheduler's job store is not one of the models' tables.
        connection.execute(text(f"DROP TABLE IF EXISTS {JOB_TABLE}"))
    engine.dispose()


@pytest.fixture
def app(database_url, tmp_path):
    """Return the app bound to a fresh database, with CSRF off for form posts."""
    SPEC_CACHE.clear()
    application = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "test-secret",
            "WTF_CSRF_ENABLED": False,
            "WENMING_UPLOAD_FOLDER": str(tmp_path / "uploads"),
            "INSTANCE_PATH": str(tmp_path / "instance"),
        }
    )
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def session(app):
    """Return the app's database session."""
    return db.session


@pytest.fixture
def client(app):
    """Return a test client of the app."""
    return app.test_client()


@pytest.fixture
def cli(app):
    """Return a runner for the app's `flask` commands."""
    return app.test_cli_runner()


@pytest.fixture
def world(session, app):
    """Deploy the shipped diagrams and build the sample organisation and cycle."""
    from tests.factories import build_world

    return build_world(session, Path(app.config["WENMING_UPLOAD_FOLDER"]))
