"""An opening killed half-way, as a real process, resumes without duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, select

from app.models import Cycle, HumanTask, ProcessInstance
from app.services import organisation
from app.services.base import transaction
from tests.factories import build_world

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXTRA_UNITS = 1200
BATCH_SIZE = 20
WAIT_SECONDS = 60


def add_units(session, world, count: int) -> None:
    """Add many small units under the county, enough for a slow issuance."""
    with transaction(session):
        for number in range(count):
            organisation.create_unit(
                session,
                name=f"批量单位{number:04d}",
                code=f"bulk{number:04d}",
                unit_type="enterprise",
                office=world.offices["X01"],
            )


def flask_command(url: str, tmp_path: Path, *args: str) -> list[str]:
    """Return a `flask` command line and its environment for the test database."""
    env = dict(
        os.environ,
        WENMING_DATABASE_URL=url,
        WENMING_SCHEDULER="off",
        WENMING_UPLOAD_FOLDER=str(tmp_path / "uploads"),
        WENMING_SECRET_KEY="issuance-test-secret-key",
    )
    return [sys.executable, "-m", "flask", "--app", "app", *args], env


def progress(url: str, name: str) -> tuple[int, int] | None:
    """Read the named cycle's recorded progress from a connection of its own."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                select(Cycle.issue_done, Cycle.issue_total).where(Cycle.name == name)
            ).first()
    finally:
        engine.dispose()
    return tuple(row) if row else None


def test_killed_cycle_open_resumes_with_cycle_issue(app, session, tmp_path):
    """SIGKILL during `flask cycle open`; `flask cycle issue` issues only the rest."""
    world = build_world(session, Path(app.config["WENMING_UPLOAD_FOLDER"]))
    add_units(session, world, EXTRA_UNITS)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    due = datetime.now(UTC) + timedelta(days=30)
    dues = [
        f"--{name}-due={due.isoformat()}"
        for name in ("submission", "county-review", "city-review", "province-review")
    ]
    command, env = flask_command(
        url,
        tmp_path,
        "cycle",
        "open",
        "--office=X01",
        "--name=被中断的开启",
        f"--indicator-system={world.system.code}",
        f"--batch-size={BATCH_SIZE}",
        *dues,
    )

    opening = subprocess.Popen(
        command, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + WAIT_SECONDS
    while (seen := progress(url, "被中断的开启")) is None or seen[0] == 0:
        assert opening.poll() is None, "the opening ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    opening.send_signal(signal.SIGKILL)
    opening.wait()

    done, total = progress(url, "被中断的开启")
    county = world.offices["X01"].id
    expected = EXTRA_UNITS + sum(u.office_id == county for u in world.units.values())
    assert 0 < done < total == expected

    cycle_id = session.scalars(
        select(Cycle.id).where(Cycle.name == "被中断的开启")
    ).one()
    command, env = flask_command(url, tmp_path, "cycle", "issue", str(cycle_id))
    resumed = subprocess.run(
        command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"{expected - done} units issued, {done} already had the task" in (
        resumed.stdout
    )

    session.expire_all()
    per_unit = session.execute(
        select(ProcessInstance.unit_id, func.count())
        .where(ProcessInstance.cycle_id == cycle_id)
        .group_by(ProcessInstance.unit_id)
    ).all()
    assert len(per_unit) == expected
    assert {count for _, count in per_unit} == {1}
    tasks = session.scalar(
        select(func.count())
        .select_from(HumanTask)
        .where(HumanTask.cycle_id == cycle_id)
    )
    assert tasks == expected
    cycle = session.get(Cycle, cycle_id)
    assert cycle.issue_done == cycle.issue_total == expected
    assert cycle.issued_at is not None
