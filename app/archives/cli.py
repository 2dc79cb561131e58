"""`flask archive`: check the frozen dossiers against their manifests."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from app.extensions import db
from app.services.base import transaction
from app.services.dossier_check import check_dossiers
from app.services.dossier_freeze import freeze_missing
from app.services.dossier_zip import verify_zip
from processes.errors import WenmingError

logger = logging.getLogger(__name__)

archive_cli = AppGroup("archive", help="Check and export the electronic archive.")


@archive_cli.command("verify")
@click.option("--dossier", "dossier_id", type=int, help="Check only this dossier.")
@click.option("--cycle", "cycle_id", type=int, help="Check only this cycle's.")
def verify(dossier_id: int | None, cycle_id: int | None) -> None:
    """Check dossiers and their files on disk against the manifests; exit 1 if not."""
    folder = Path(current_app.config["WENMING_UPLOAD_FOLDER"])
    report = check_dossiers(
        db.session, folder, dossier_id=dossier_id, cycle_id=cycle_id
    )

    for problem in report.problems:
        click.echo(problem.line())
    if report.ok:
        click.echo(
            f"OK: {report.dossiers} dossiers and {report.files} files "
            "match their manifests."
        )
        return
    click.echo(
        f"TAMPERED: {len(report.bad_dossiers())} of {report.dossiers} dossiers "
        f"have {len(report.problems)} problems."
    )
    sys.exit(1)


@archive_cli.command("verify-zip")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def verify_zip_command(path: str) -> None:
    """Check a downloaded dossier ZIP against its manifest and the archive."""
    try:
        report = verify_zip(Path(path).read_bytes(), db.session)
    except WenmingError as error:
        raise click.ClickException(error.message) from error

    for problem in report.problems:
        detail = f" (expected {problem.expected}, found {problem.found})"
        click.echo(
            f"{problem.path}: {problem.problem}{detail if problem.found else ''}"
        )
    known = "matches" if report.known_to_archive else "is not known to"
    if report.ok:
        click.echo(
            f"OK: {report.files_checked} files match the manifest; "
            f"the manifest {known} this archive."
        )
        return
    click.echo(f"TAMPERED: {len(report.problems)} problems in {path}.")
    sys.exit(1)


@archive_cli.command("freeze")
@click.option(
    "--missing",
    is_flag=True,
    help="Freeze dossiers for archived tasks that have none yet.",
)
def freeze(missing: bool) -> None:
    """Freeze the dossiers of tasks archived before the electronic archive existed."""
    if not missing:
        raise click.UsageError(
            "dossiers are frozen when a task is archived; "
            "pass --missing to freeze those archived without one"
        )
    with transaction(db.session):
        frozen = freeze_missing(db.session)
    for dossier in frozen:
        click.echo(f"dossier {dossier.id} frozen for instance {dossier.instance_id}")
    click.echo(f"{len(frozen)} dossiers frozen.")
