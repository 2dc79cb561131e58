"""Photos shown to the public: checked, decoded safely, re-encoded bare.

A photo sent with a public report is accepted only if its bytes are a JPEG, PNG or
WebP image that decodes completely within a pixel budget. It is then re-encoded
from its pixels, which drops EXIF (a phone's GPS position among it) and anything
appended to the file. A unit's good-practice photo keeps its original for the
offices; the public site serves a bare copy made the same way on first request.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageOps

from app.services.evidence import evidence_path, sniff, write_atomically
from app.services.report_guard import refuse
from processes.errors import InvalidInput

logger = logging.getLogger(__name__)

MAX_PHOTOS = 3
MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 2560
ACCEPTED = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
# Evidence photos the public may see: what units can upload as photos.
EVIDENCE_FORMATS = {**ACCEPTED, "image/gif": "GIF"}
BARE_FOLDER = "public"


@dataclass(frozen=True)
class CleanPhoto:
    """A re-encoded photo ready to store: its bytes, type and size in pixels."""

    content: bytes
    content_type: str
    width: int
    height: int

    @property
    def sha256(self) -> str:
        """Return the hex digest the photo is stored under."""
        return hashlib.sha256(self.content).hexdigest()


def check_photos(uploads: list[tuple[str, bytes]]) -> list[CleanPhoto]:
    """Check every chosen photo and return them re-encoded, or refuse them all."""
    chosen = [(name, content) for name, content in uploads if content]
    if len(chosen) > MAX_PHOTOS:
        raise refuse("photos", "too_many", f"at most {MAX_PHOTOS} photos")
    return [clean_photo(name, content) for name, content in chosen]


def clean_photo(filename: str, content: bytes) -> CleanPhoto:
    """Decode one photo within limits and re-encode it without metadata."""
    if len(content) > MAX_PHOTO_BYTES:
        raise refuse("photos", "too_large", f"{filename}: larger than the limit")
    sniffed = sniff(content)
    if sniffed is None or sniffed[1] not in ACCEPTED:
        raise refuse("photos", "not_image", f"{filename}: not a JPEG, PNG or WebP")

    image = _decode(filename, content, ACCEPTED[sniffed[1]])
    return _reencode(image, sniffed[1])


def _decode(filename: str, content: bytes, expected_format: str) -> Image.Image:
    """Open, size-check and fully decode the image; refuse anything odd."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(BytesIO(content), formats=[expected_format])
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise refuse("photos", "bomb", f"{filename}: too many pixels")
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            raise refuse("photos", "bomb", f"{filename}: too many pixels") from err
        except (OSError, SyntaxError, ValueError) as error:
            logger.info("public photo refused: %s", error)
            raise refuse("photos", "broken", f"{filename}: damaged image") from error
    return image


def _reencode(image: Image.Image, content_type: str) -> CleanPhoto:
    image = ImageOps.exif_transpose(image)
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    out = BytesIO()
    if content_type == "image/png":
        if image.mode not in ("RGB", "RGBA", "L", "LA"):
            image = image.convert("RGBA")
        image.save(out, format="PNG", optimize=True)
    else:
        content_type = "image/jpeg"
        image.convert("RGB").save(out, format="JPEG", quality=85)
    return CleanPhoto(out.getvalue(), content_type, image.width, image.height)


def bare_copy(upload_folder: Path, digest: str, content_type: str) -> tuple[Path, str]:
    """Return a stored photo's copy without metadata, and its type; made once.

    Raises ValueError when the stored file is not a photo that decodes cleanly.
    """
    kind = "image/png" if content_type in ("image/png", "image/gif") else "image/jpeg"
    suffix = ".png" if kind == "image/png" else ".jpg"
    target = Path(upload_folder) / BARE_FOLDER / f"{digest}{suffix}"
    if target.exists():
        return target, kind

    if content_type not in EVIDENCE_FORMATS:
        raise ValueError(f"{content_type} is not a photo the public site shows")
    content = evidence_path(Path(upload_folder), digest).read_bytes()
    try:
        image = _decode(digest, content, EVIDENCE_FORMATS[content_type])
    except InvalidInput as error:
        raise ValueError(error.message) from error
    bare = _reencode(image, kind)
    write_atomically(target, bare.content)
    return target, bare.content_type


def store_photo(upload_folder: Path, photo: CleanPhoto) -> str:
    """Write a photo content-addressed under the upload folder; return its digest."""
    digest = photo.sha256
    target = evidence_path(Path(upload_folder), digest)
    if not target.exists():
        write_atomically(target, photo.content)
    return digest
