"""Two real scheduler processes on one PostgreSQL database mail each reminder once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from app.models import OutboxMessage
from app.services.base import transaction
from tests.factories import build_world
from tests.integration import test_mail

smtp_server = test_mail.smtp_server
PROJECT_ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 25


def scheduler_process(database_url: str, server, tmp_path: Path, name: str):
    """Start `flask scheduler run` with one-second jobs and two timer workers."""
    env = dict(
        os.environ,
        WENMING_DATABASE_URL=database_url,
        WENMING_SCHEDULER="off",
        WENMING_SCHEDULER_INTERVAL_SECONDS="1",
        WENMING_TIMER_WORKERS="2",
        WENMING_SMTP_HOST=server.settings.host,
        WENMING_SMTP_PORT=str(server.settings.port),
        WENMING_SMTP_STARTTLS="false",
        WENMING_UPLOAD_FOLDER=str(tmp_path / "uploads"),
        WENMING_SECRET_KEY="scheduler-mail-test-secret",
    )
    log = tmp_path / f"{name}.log"
    command = [sys.executable, "-m", "flask", "--app", "app", "scheduler", "run"]
    command += ["--poll-seconds", "0.2"]
    with log.open("w") as output:
        process = subprocess.Popen(
            command, env=env, cwd=PROJECT_ROOT, stdout=output, stderr=subprocess.STDOUT
        )
    return process, log


def wait_for(condition, seconds: float) -> bool:
    """Poll until the condition holds or the time is up; return whether it held."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def stop(process) -> int:
    """Stop a scheduler with SIGTERM and return its exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_scheduler_processes_mail_each_reminder_once(
    app, session, database_url, smtp_server, tmp_path
):
    """With reminders due, two schedulers (one leading, one waiting) mail each once.

    The leader is then stopped; the waiting one takes over and sends nothing again.
    """
    thirteen_days_ago = datetime.now(UTC) - timedelta(days=13)
    with time_machine.travel(thirteen_days_ago, tick=True):
        world = build_world(session, Path(app.config["WENMING_UPLOAD_FOLDER"]))
    with transaction(session):
        for code in world.units:
            world.users[code].email = f"{code}@wenming.example"
    expected = {f"{code}@wenming.example": 1 for code in world.units}

    first = scheduler_process(database_url, smtp_server, tmp_path, "first")
    second = scheduler_process(database_url, smtp_server, tmp_path, "second")
    processes = [first, second]
    try:
        arrived = wait_for(
            lambda: len(smtp_server.messages) >= len(expected), WAIT_SECONDS
        )
        leader = next(p for p in processes if "is the leader" in p[1].read_text())
        follower = next(p for p in processes if p is not leader)
        assert stop(leader[0]) == 0
        took_over = wait_for(lambda: "taking over" in follower[1].read_text(), 10)
        time.sleep(3)  # three more rounds of every job under the new leader
    finally:
        codes = [stop(process) for process, _log in processes]

    logs = "\n".join(log.read_text() for _process, log in processes)
    assert arrived and took_over, logs
    assert codes == [0, 0], logs
    assert Counter(m["To"] for m in smtp_server.messages) == expected
    assert all("提醒" in m["Subject"] for m in smtp_server.messages)
    session.expire_all()
    statuses = session.scalars(select(OutboxMessage.status)).all()
    assert statuses == ["sent"] * len(expected)
