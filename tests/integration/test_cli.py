"""The `flask` commands, run through the CLI runner."""

from __future__ import annotations

from sqlalchemy import func, select

from app.models import Cycle, ProcessInstance, User
from tests.conftest import corpus_dir
from tests.factories import SHIPPED, build_world


def test_process_validate_gives_a_verdict(cli):
    """The shipped diagrams are valid; the XXE file is refused with a reason."""
    ok = cli.invoke(args=["process", "validate", str(SHIPPED / "rectification.bpmn")])
    assert ok.exit_code == 0, ok.output
    assert "valid (rectification)" in ok.output

    xxe = corpus_dir() / "invalid" / "arena-xml_with_entity-invoice.bpmn"
    bad = cli.invoke(args=["process", "validate", str(xxe)])
    assert bad.exit_code == 1
    assert "invalid" in bad.output and "[xml]" in bad.output


def test_process_validate_with_companion(cli):
    """A caller validates when its called diagram is given as a companion."""
    result = cli.invoke(
        args=[
            "process",
            "validate",
            str(SHIPPED / "creation_task.bpmn"),
            "--companion",
            str(SHIPPED / "rectification.bpmn"),
        ]
    )
    assert result.exit_code == 0, result.output


def test_process_deploy_and_list(cli):
    """Deploy puts both shipped procedures in the registry; a re-deploy is a no-op."""
    first = cli.invoke(args=["process", "deploy", "--comment", "initial"])
    assert first.exit_code == 0, first.output
    assert "deployed as rectification version 1" in first.output
    assert "deployed as creation_task version 1" in first.output

    again = cli.invoke(args=["process", "deploy"])
    assert "unchanged, current is creation_task version 1" in again.output

    listing = cli.invoke(args=["process", "list"])
    assert "creation_task" in listing.output and "* v1" in listing.output


def test_process_deploy_reports_an_invalid_file(cli, tmp_path):
    """Deploying a broken file exits non-zero and says what is wrong."""
    broken = tmp_path / "broken.bpmn"
    broken.write_text("<definitions>", encoding="utf-8")
    result = cli.invoke(args=["process", "deploy", str(broken)])
    assert result.exit_code != 0
    assert "broken.bpmn" in result.output


def test_cycle_open_issues_and_lists(cli, session, app):
    """Opening a cycle from the CLI issues one task per unit, once."""
    build_world(session, app.config["WENMING_UPLOAD_FOLDER"], issue=False)
    args = [
        "cycle",
        "open",
        "--office",
        "X01",
        "--name",
        "2027年度",
        "--indicator-system",
        "WMDW",
        "--submission-due",
        "2030-10-31T18:00:00+08:00",
        "--county-review-due",
        "2030-11-15T18:00:00+08:00",
        "--city-review-due",
        "2030-11-25T18:00:00+08:00",
        "--province-review-due",
        "2030-11-30T18:00:00+08:00",
    ]
    result = cli.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "6 units issued" in result.output
    cycle = session.scalars(select(Cycle).where(Cycle.name == "2027年度")).one()
    count = session.scalar(
        select(func.count())
        .select_from(ProcessInstance)
        .where(ProcessInstance.cycle_id == cycle.id)
    )
    assert count == 6

    listing = cli.invoke(args=["cycle", "list"])
    assert "2027年度" in listing.output and "issued 6" in listing.output

    duplicate = cli.invoke(args=args)
    assert duplicate.exit_code != 0
    assert "already has a cycle" in duplicate.output


def test_cycle_open_rejects_a_bad_date(cli, session, app):
    """A deadline that is not an ISO date gets a message naming the option."""
    build_world(session, app.config["WENMING_UPLOAD_FOLDER"], issue=False)
    result = cli.invoke(
        args=[
            "cycle",
            "open",
            "--office",
            "X01",
            "--name",
            "x",
            "--indicator-system",
            "WMDW",
            "--submission-due",
            "next friday",
            "--county-review-due",
            "2030-11-15",
            "--city-review-due",
            "2030-11-25",
            "--province-review-due",
            "2030-11-30",
        ]
    )
    assert result.exit_code != 0
    assert "--submission-due" in result.output


def test_user_create(cli, session, app):
    """An office reviewer is created with a hashed password; bad roles are refused."""
    build_world(session, app.config["WENMING_UPLOAD_FOLDER"], issue=False)
    result = cli.invoke(
        args=[
            "user",
            "create",
            "reviewer2",
            "--role",
            "reviewer",
            "--office",
            "X01",
            "--password",
            "long-enough-pw",
        ]
    )
    assert result.exit_code == 0, result.output
    user = session.scalars(select(User).where(User.username == "reviewer2")).one()
    assert user.check_password("long-enough-pw")
    assert user.password_hash != "long-enough-pw"

    bad = cli.invoke(
        args=[
            "user",
            "create",
            "x",
            "--role",
            "wizard",
            "--password",
            "long-enough-pw",
        ]
    )
    assert bad.exit_code != 0 and "roles must be chosen" in bad.output


def test_demo_load_once_then_only_on_request(cli, session):
    """The demo loads once with instances in several states; reload needs --reset."""
    first = cli.invoke(args=["demo", "load"])
    assert first.exit_code == 0, first.output
    assert "hospital" in first.output and "wenming-demo" in first.output
    states = session.execute(
        select(ProcessInstance.status, func.count()).group_by(ProcessInstance.status)
    ).all()
    # Five creation tasks and the sample public report run; one task is archived.
    assert dict(states) == {"running": 6, "completed": 1}

    second = cli.invoke(args=["demo", "load"])
    assert "already loaded" in second.output
    assert session.scalar(select(func.count()).select_from(User)) == 10

    reset = cli.invoke(args=["demo", "load", "--reset"])
    assert reset.exit_code == 0, reset.output
    assert session.scalar(select(func.count()).select_from(User)) == 10


def test_timer_fire_command(cli, session, app):
    """The timer command reports how many instances it handled."""
    build_world(session, app.config["WENMING_UPLOAD_FOLDER"])
    result = cli.invoke(args=["timer", "fire"])
    assert result.exit_code == 0
    assert "Timers fired for 0 instances" in result.output
