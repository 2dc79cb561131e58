"""Checking the stored dossiers against their manifests (`flask archive verify`).

For each dossier: the manifest still hashes to the frozen manifest hash, the
document still hashes to its manifest line, the file rows agree with the manifest,
and every evidence file on disk still has the bytes the manifest names.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Unit
from app.models.dossier import Dossier, DossierFile
from app.services.dossier_freeze import DOCUMENT_PATH, sha256_hex
from app.services.evidence import evidence_path

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class DossierProblem:
    """One thing that no longer matches a dossier's manifest."""

    dossier_id: int
    unit_name: str
    path: str
    problem: str
    expected: str = ""
    found: str = ""

    def line(self) -> str:
        """Return the problem as one line of the command's report."""
        if self.problem == "missing":
            what = f"missing (expected {self.expected})"
        else:
            what = f"{self.problem}: expected {self.expected}, found {self.found}"
        return f"dossier {self.dossier_id} ({self.unit_name}) {self.path}: {what}"


@dataclass
class CheckReport:
    """The outcome of checking dossiers: how many, and every problem found."""

    dossiers: int = 0
    files: int = 0
    problems: list[DossierProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Tell whether every checked dossier is intact."""
        return not self.problems

    def bad_dossiers(self) -> set[int]:
        """Return the ids of the dossiers with a problem."""
        return {p.dossier_id for p in self.problems}


def check_dossiers(
    session: Session,
    upload_folder: Path,
    *,
    dossier_id: int | None = None,
    cycle_id: int | None = None,
) -> CheckReport:
    """Check every dossier (or one, or a cycle's) against its manifest and files."""
    query = (
        select(Dossier, Unit.name)
        .join(Unit, Unit.id == Dossier.unit_id)
        .order_by(Dossier.id)
    )
    if dossier_id is not None:
        query = query.where(Dossier.id == dossier_id)
    if cycle_id is not None:
        query = query.where(Dossier.cycle_id == cycle_id)
    report = CheckReport()

    for dossier, unit_name in session.execute(query):
        report.dossiers += 1
        _check_one(session, dossier, unit_name, Path(upload_folder), report)

    logger.info(
        "checked %s dossiers, %s problems", report.dossiers, len(report.problems)
    )
    return report


def _check_one(session, dossier: Dossier, unit_name: str, folder: Path, report):
    def problem(path: str, kind: str, expected: str = "", found: str = "") -> None:
        report.problems.append(
            DossierProblem(dossier.id, unit_name, path, kind, expected, found)
        )

    found = sha256_hex(dossier.manifest)
    if found != dossier.manifest_sha256:
        problem("manifest.json", "changed", dossier.manifest_sha256, found)
    try:
        listed = {e["path"]: e for e in json.loads(dossier.manifest)["files"]}
    except (ValueError, KeyError, TypeError):
        problem("manifest.json", "unreadable")
        return
    rows = session.scalars(
        select(DossierFile).where(DossierFile.dossier_id == dossier.id)
    ).all()

    for row in rows:
        report.files += 1
        entry = listed.pop(row.path, None)
        if entry is None or entry["sha256"] != row.sha256:
            expected = entry["sha256"] if entry else "no manifest line"
            problem(row.path, "differs from manifest", expected, row.sha256)
            continue
        actual = _actual_hash(dossier, row, folder)
        if actual is None:
            problem(row.path, "missing", row.sha256)
        elif actual != row.sha256:
            problem(row.path, "changed", row.sha256, actual)
    for path, entry in listed.items():
        problem(path, "missing", entry["sha256"])


def _actual_hash(dossier: Dossier, row: DossierFile, folder: Path) -> str | None:
    if row.path == DOCUMENT_PATH and row.evidence_file_id is None:
        return sha256_hex(dossier.document)
    path = evidence_path(folder, row.sha256)
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
