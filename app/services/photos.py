"""Photos: check that an uploaded image decodes, and read when it was taken."""

from __future__ import annotations

import logging
import warnings
from datetime import UTC, datetime, timedelta
from io import BytesIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from PIL import Image

from processes.errors import InvalidInput

logger = logging.getLogger(__name__)

EXIF_IFD = 0x8769
TAG_DATETIME = 306
TAG_DATETIME_ORIGINAL = 36867
TAG_OFFSET_TIME_ORIGINAL = 36881
EXIF_FORMAT = "%Y:%m:%d %H:%M:%S"
# Decoding at a reduced scale proves the data is readable without the full cost.
DRAFT_SIZE = (256, 256)


def check_photo(filename: str, content: bytes, timezone: str) -> datetime | None:
    """Refuse an image that does not decode; return its capture time, if any."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(BytesIO(content))
            captured_at = capture_time(image, timezone)
            if image.format == "JPEG":
                image.draft("RGB", DRAFT_SIZE)
            image.load()
    except Exception as error:
        logger.warning("photo %s refused: %s", filename, error)
        raise InvalidInput(
            f"{filename}: the photo cannot be read; the file may be damaged or "
            "not really an image. Export it again and upload the new file"
        ) from error
    return captured_at


def capture_time(image: Image.Image, timezone: str) -> datetime | None:
    """Return when the photo was taken by its EXIF data, in UTC, or None."""
    try:
        exif = image.getexif()
        details = exif.get_ifd(EXIF_IFD)
    except Exception:
        logger.warning("photo metadata unreadable; no capture time kept")
        return None
    raw = details.get(TAG_DATETIME_ORIGINAL) or exif.get(TAG_DATETIME)
    moment = _parse(raw)
    if moment is None:
        return None
    offset = _parse_offset(details.get(TAG_OFFSET_TIME_ORIGINAL))
    if offset is not None:
        return (moment - offset).replace(tzinfo=UTC)
    return moment.replace(tzinfo=_zone(timezone)).astimezone(UTC)


def _parse(raw) -> datetime | None:
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    if not isinstance(raw, str):
        return None
    try:
        return datetime.strptime(raw.strip("\x00 ")[:19], EXIF_FORMAT)
    except ValueError:
        return None


def _parse_offset(raw) -> timedelta | None:
    """Read an EXIF offset such as "+08:00" as a timedelta, or None."""

    if not isinstance(raw, str) or len(raw) < 6 or raw[0] not in "+-":
        return None
    try:
        hours, minutes = int(raw[1:3]), int(raw[4:6])
    except ValueError:
        return None
    if hours > 14 or minutes > 59:
        return None
    sign = 1 if raw[0] == "+" else -1
    return sign * timedelta(hours=hours, minutes=minutes)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Asia/Shanghai")
