"""Evidence files: checked by content, stored once under their sha256."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import unicodedata
import zipfile
from io import BytesIO
from pathlib import Path

from sqlalchemy.orm import Session

from app.models import EvidenceFile, User, record_event
from app.services.photos import check_photo
from processes.errors import InvalidInput

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 50 * 1024 * 1024

_OFFICE_ZIP_TYPES = {
    "word/": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    ),
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
# HEIF and AVIF photos share the MP4 container; they are images, not video.
_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}


def sniff(content: bytes) -> tuple[str, str] | None:
    """Return (kind, content type) judged from the bytes, or None if not accepted."""
    head = content[:16]
    if head.startswith(b"\xff\xd8\xff"):
        return "photo", "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "photo", "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "photo", "image/gif"
    if head[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "photo", "image/webp"
    if head.startswith(b"%PDF-"):
        return "document", "application/pdf"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "document", "application/msword"
    if head.startswith(b"PK\x03\x04"):
        return _sniff_office(content)
    if content[4:8] == b"ftyp" and content[8:12] not in _IMAGE_BRANDS:
        return "video", "video/mp4"
    return None


def _sniff_office(content: bytes) -> tuple[str, str] | None:
    try:
        names = zipfile.ZipFile(BytesIO(content)).namelist()
    except zipfile.BadZipFile:
        return None
    if "[Content_Types].xml" not in names:
        return None
    for prefix, content_type in _OFFICE_ZIP_TYPES.items():
        if any(name.startswith(prefix) for name in names):
            return "document", content_type
    return None


def safe_filename(filename: str) -> str:
    """Return a file name without directories or control characters."""
    name = unicodedata.normalize("NFC", os.path.basename(filename.replace("\\", "/")))
    name = re.sub(r"[\x00-\x1f\x7f<>:\"|?*]", "_", name).strip(" .")
    return name[:200] or "file"


def store_evidence(
    session: Session,
    *,
    upload_folder: Path,
    user: User,
    unit_id: int,
    filename: str,
    content: bytes,
    max_bytes: int = DEFAULT_MAX_BYTES,
    capture_timezone: str = "Asia/Shanghai",
) -> EvidenceFile:
    """Check an upload and store it content-addressed; the row is added unlinked."""
    if not content:
        raise InvalidInput(f"{filename}: the file is empty")
    if len(content) > max_bytes:
        raise InvalidInput(
            f"{filename}: the file has {len(content) // 1024} KiB; "
            f"the limit is {max_bytes // 1024} KiB"
        )
    sniffed = sniff(content)
    if sniffed is None:
        raise InvalidInput(
            f"{filename}: only photos (JPEG, PNG, GIF, WebP), PDF, Office documents "
            "and MP4 videos are accepted"
        )
    captured_at = None
    if sniffed[0] == "photo":
        captured_at = check_photo(filename, content, capture_timezone)
    digest = hashlib.sha256(content).hexdigest()
    _write_once(Path(upload_folder), digest, content)
    evidence = EvidenceFile(
        sha256=digest,
        filename=safe_filename(filename),
        content_type=sniffed[1],
        kind=sniffed[0],
        size_bytes=len(content),
        unit_id=unit_id,
        uploaded_by_id=user.id,
        captured_at=captured_at,
    )
    session.add(evidence)
    return evidence


def evidence_path(upload_folder: Path, digest: str) -> Path:
    """Return where the file with this sha256 is kept."""
    return Path(upload_folder) / digest[:2] / digest


def _write_once(upload_folder: Path, digest: str, content: bytes) -> None:
    target = evidence_path(upload_folder, digest)
    if not target.exists():
        write_atomically(target, content)


def write_atomically(target: Path, content: bytes) -> None:
    """Write a file under a name of its own, then move it into place whole."""
    # Two requests may store the same file at once; each writes its own part file.
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, partial = tempfile.mkstemp(dir=target.parent, suffix=".part")
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    os.replace(partial, target)


def store_for_task(
    session: Session,
    user: User,
    task,
    *,
    filename: str,
    content: bytes,
    upload_folder: Path,
    max_bytes: int,
    link: dict[str, int],
    **detail: object,
) -> EvidenceFile:
    """Store an upload for a task's unit, link it (response or item) and audit it."""
    stored = store_evidence(
        session,
        upload_folder=upload_folder,
        user=user,
        unit_id=task.unit_id,
        filename=filename,
        content=content,
        max_bytes=max_bytes,
    )
    for name, value in link.items():
        setattr(stored, name, value)
    record_event(
        session,
        "evidence.uploaded",
        actor_id=user.id,
        instance_id=task.instance_id,
        filename=stored.filename,
        sha256=stored.sha256,
        **detail,
    )
    return stored
