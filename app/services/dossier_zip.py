"""A dossier as a ZIP to keep offline, and the check of such a ZIP.

The ZIP holds manifest.json and manifest.sha256 (the frozen manifest and its hash,
in the `sha256sum` line format), dossier.json, the evidence files under files/,
index.html (a page readable offline) and annotations.json with annotations.sha256.
The annotations and the index page lie outside the frozen manifest: they are added
at download time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
import zlib
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Unit, User
from app.models.dossier import Dossier, DossierFile
from app.services.dossier_freeze import canonical_json, sha256_hex
from app.services.dossiers import annotations_document, dossier_files, in_scope
from app.services.evidence import evidence_path
from processes.errors import InvalidInput

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MANIFEST_HASH = "manifest.sha256"
ANNOTATIONS = "annotations.json"
ANNOTATIONS_HASH = "annotations.sha256"
INDEX = "index.html"
OUTSIDE_MANIFEST = {MANIFEST, MANIFEST_HASH, ANNOTATIONS, ANNOTATIONS_HASH, INDEX}
MAX_ZIP_BYTES = 512 * 1024 * 1024
# Evidence hardly compresses; a ZIP that unpacks to far more was not made here.
MAX_UNPACKED_BYTES = 4 * MAX_ZIP_BYTES
MAX_TEXT_MEMBER_BYTES = 64 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
# What reading a member whose bytes were altered inside the ZIP raises.
UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError)


@dataclass(frozen=True)
class ZipProblem:
    """One thing wrong with a dossier ZIP: which file, and how."""

    path: str
    problem: str
    expected: str = ""
    found: str = ""


@dataclass
class ZipReport:
    """The outcome of checking a dossier ZIP."""

    dossier_id: int | None = None
    instance_id: int | None = None
    files_checked: int = 0
    known_to_archive: bool = False
    problems: list[ZipProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Tell whether every file matches and the manifest is the frozen one."""
        return not self.problems

    def paths(self, problem: str) -> list[str]:
        """Return the paths that have a problem of this kind."""
        return [p.path for p in self.problems if p.problem == problem]


def sha256_line(digest: str, name: str) -> bytes:
    """Return a `sha256sum`-style line naming a file and its hash."""
    return f"{digest}  {name}\n".encode()


def zip_name(dossier: Dossier, unit_name: str, cycle_name: str) -> str:
    """Return the download name of a dossier's ZIP."""
    return f"档案-{unit_name}-{cycle_name}-{dossier.id}.zip"


def build_zip(
    session: Session, dossier: Dossier, upload_folder: Path, index_html: str
) -> bytes:
    """Return the dossier's ZIP: manifest, document, files, index, annotations."""
    files = dossier_files(session, dossier.id)
    annotations = canonical_json(annotations_document(session, dossier.id))
    buffer = BytesIO()

    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, dossier.manifest)
        archive.writestr(MANIFEST_HASH, sha256_line(dossier.manifest_sha256, MANIFEST))
        for stored in files:
            content = _file_content(dossier, stored, Path(upload_folder))
            if content is not None:
                archive.writestr(stored.path, content)
        archive.writestr(INDEX, index_html.encode("utf-8"))
        archive.writestr(ANNOTATIONS, annotations)
        archive.writestr(
            ANNOTATIONS_HASH, sha256_line(sha256_hex(annotations), ANNOTATIONS)
        )

    logger.info(
        "dossier %s packed with %s files",
        dossier.id,
        len(files),
        extra={"dossier_id": dossier.id},
    )
    return buffer.getvalue()


def _file_content(dossier: Dossier, stored: DossierFile, folder: Path) -> bytes | None:
    if stored.evidence_file_id is None:
        return dossier.document
    path = evidence_path(folder, stored.sha256)
    if not path.is_file():
        logger.warning(
            "dossier %s: evidence %s is missing from storage",
            dossier.id,
            stored.path,
            extra={"dossier_id": dossier.id},
        )
        return None
    return path.read_bytes()


def verify_zip(
    content: bytes, session: Session | None = None, user: User | None = None
) -> ZipReport:
    """Check a dossier ZIP against its manifest and, if known, the frozen hash.

    With a session the manifest is also compared with the hash frozen in the
    database; with a user too, only with dossiers that user may see.
    """
    archive = _open_zip(content)
    report = ZipReport()
    names = {info.filename for info in archive.infolist() if not info.is_dir()}
    manifest_bytes = _member(archive, names, MANIFEST)
    if manifest_bytes is None:
        report.problems.append(ZipProblem(MANIFEST, "missing"))
        return report
    manifest = _parse_manifest(manifest_bytes)
    report.instance_id = manifest.get("instance_id")

    _check_manifest_hash(archive, names, manifest_bytes, report)
    listed = _check_files(archive, names, manifest, report)
    for extra in sorted(names - listed - OUTSIDE_MANIFEST):
        report.problems.append(ZipProblem(extra, "extra"))
    _check_annotations(archive, names, report)
    if session is not None:
        _check_frozen_hash(session, user, manifest_bytes, report)
    return report


def _open_zip(content: bytes) -> zipfile.ZipFile:
    if len(content) > MAX_ZIP_BYTES:
        raise InvalidInput("the file is larger than any dossier ZIP this archive makes")
    try:
        archive = zipfile.ZipFile(BytesIO(content))
    except zipfile.BadZipFile as error:
        raise InvalidInput(
            "the file is not a ZIP; choose a dossier ZIP downloaded from the archive"
        ) from error
    if sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED_BYTES:
        raise InvalidInput(
            "the ZIP unpacks to more than any dossier ZIP this archive makes"
        )
    return archive


def _member(archive: zipfile.ZipFile, names: set[str], name: str) -> bytes | None:
    """Return a small member's bytes, None if absent; refuse it if damaged."""
    if name not in names:
        return None
    if archive.getinfo(name).file_size > MAX_TEXT_MEMBER_BYTES:
        raise InvalidInput(f"{name} in the ZIP is larger than any this archive makes")
    try:
        return archive.read(name)
    except UNREADABLE as error:
        raise InvalidInput(
            f"{name} in the ZIP is damaged and cannot be read"
        ) from error


def _member_hash(archive: zipfile.ZipFile, path: str) -> str | None:
    """Return the sha256 of a member read in chunks, or None if it is damaged."""
    digest = hashlib.sha256()
    try:
        with archive.open(path) as handle:
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
    except UNREADABLE as error:
        logger.warning("dossier ZIP member %s cannot be read: %s", path, error)
        return None
    return digest.hexdigest()


def _parse_manifest(content: bytes) -> dict:
    try:
        manifest = json.loads(content)
    except ValueError as error:
        raise InvalidInput(
            "manifest.json in the ZIP is not valid JSON; the ZIP was damaged"
        ) from error
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise InvalidInput("manifest.json in the ZIP does not list the dossier files")
    return manifest


def _check_manifest_hash(archive, names, manifest_bytes: bytes, report) -> None:
    found = sha256_hex(manifest_bytes)
    line = _member(archive, names, MANIFEST_HASH)
    if line is None:
        report.problems.append(ZipProblem(MANIFEST_HASH, "missing"))
        return
    expected = line.decode("utf-8", "replace").split()[:1]
    if expected != [found]:
        report.problems.append(
            ZipProblem(MANIFEST, "changed", "".join(expected), found)
        )


def _check_files(archive, names: set[str], manifest: dict, report) -> set[str]:
    listed = set()
    for entry in manifest["files"]:
        path, expected = str(entry.get("path", "")), str(entry.get("sha256", ""))
        listed.add(path)
        report.files_checked += 1
        if path not in names:
            report.problems.append(ZipProblem(path, "missing", expected))
            continue
        found = _member_hash(archive, path)
        if found is None:
            report.problems.append(ZipProblem(path, "damaged", expected))
        elif found != expected:
            report.problems.append(ZipProblem(path, "changed", expected, found))
    return listed


def _check_annotations(archive, names: set[str], report: ZipReport) -> None:
    content = _member(archive, names, ANNOTATIONS)
    line = _member(archive, names, ANNOTATIONS_HASH)
    if content is None and line is None:
        return
    if content is None or line is None:
        missing = ANNOTATIONS if content is None else ANNOTATIONS_HASH
        report.problems.append(ZipProblem(missing, "missing"))
        return
    expected = line.decode("utf-8", "replace").split()[:1]
    found = sha256_hex(content)
    if expected != [found]:
        report.problems.append(
            ZipProblem(ANNOTATIONS, "changed", "".join(expected), found)
        )


def _check_frozen_hash(session: Session, user, manifest_bytes: bytes, report) -> None:
    if not isinstance(report.instance_id, int):
        return
    query = select(Dossier.id, Dossier.manifest_sha256).where(
        Dossier.instance_id == report.instance_id
    )
    if user is not None:
        query = query.join(Unit, Unit.id == Dossier.unit_id).where(in_scope(user))
    row = session.execute(query).first()
    if row is None:
        return
    report.dossier_id = row.id
    report.known_to_archive = True
    found = sha256_hex(manifest_bytes)
    if found != row.manifest_sha256:
        report.problems.append(
            ZipProblem(MANIFEST, "not_frozen", row.manifest_sha256, found)
        )
