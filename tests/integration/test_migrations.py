"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, func, inspect, select, text

from app import create_app
from app.extensions import db
from app.models import Base, Cycle, ProcessInstance
from tests.factories import build_world


def not_scheduler_table(obj, name, type_, reflected, compare_to) -> bool:
    """Leave out APScheduler's job table, which it creates and manages itself."""
    return not (type_ == "table" and name == "apscheduler_jobs")


def test_upgrade_from_empty_matches_the_models(database_url, tmp_path):
    """`flask db upgrade` on an empty database gives the models' tables, no drift."""
    engine = create_engine(database_url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        else:
            Base.metadata.drop_all(connection)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "x",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "WENMING_UPLOAD_FOLDER": str(tmp_path / "uploads"),
        }
    )
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={"compare_type": True, "include_object": not_scheduler_table},
            )
            drift = compare_metadata(context, Base.metadata)
        db.engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert drift == []


def test_downgrade_and_upgrade_keep_rows_that_point_at_altered_tables(
    database_url, tmp_path
):
    """Tables altered under rows that refer to them keep every row, both ways."""
    engine = create_engine(database_url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        else:
            Base.metadata.drop_all(connection)
    engine.dispose()
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "x",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "WENMING_UPLOAD_FOLDER": str(tmp_path / "uploads"),
        }
    )
    with app.app_context():
        upgrade()
        world = build_world(db.session, Path(tmp_path / "uploads"))
        instances = len(world.units)
        db.session.remove()

        downgrade(revision="0003")
        upgrade()
        counted = db.session.scalar(select(func.count()).select_from(ProcessInstance))
        cycles = db.session.scalars(select(Cycle.name)).all()
        db.session.remove()
        db.engine.dispose()
    assert counted == instances
    assert cycles == ["2026年度"]
