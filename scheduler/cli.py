"""The `flask scheduler` commands: run the scheduler process, or every job once."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from scheduler import jobs, runtime

scheduler_cli = AppGroup("scheduler", help="Run scheduled jobs (timers, cycles).")


@scheduler_cli.command("run")
@click.option(
    "--poll-seconds",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="How often a waiting scheduler checks whether the leader is gone.",
)
@click.option(
    "--lock-check-seconds",
    default=runtime.LOCK_CHECK_SECONDS,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="How often the leader checks that it still holds the lock.",
)
def scheduler_run(poll_seconds: float, lock_check_seconds: float) -> None:
    """Run the scheduler until SIGTERM or SIGINT; only one process leads at a time."""
    runtime.run(
        current_app._get_current_object(),
        poll_seconds=poll_seconds,
        lock_check_seconds=lock_check_seconds,
    )


@scheduler_cli.command("tick")
def scheduler_tick() -> None:
    """Run every scheduled job once now and exit."""
    results = jobs.run_all_once(current_app._get_current_object())
    for name, result in results.items():
        click.echo(f"{name}: {result}")
