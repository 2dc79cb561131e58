"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text

from app import create_app
from app.extensions import db
from app.models import Base


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
