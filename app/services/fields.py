"""Reading form data field by field, collecting errors a person can act on."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from app.models import utcnow
from processes.errors import InvalidInput
from processes.functions import parse_instant


class FieldErrors:
    """Collect errors per field and raise them together."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def add(self, field: str, message: str) -> None:
        """Record the first error of a field."""
        self.errors.setdefault(field, message)

    def raise_if_any(self, summary: str = "some fields need correcting") -> None:
        """Raise InvalidInput with every collected error, if there are any."""
        if self.errors:
            listing = "; ".join(f"{k}: {v}" for k, v in self.errors.items())
            raise InvalidInput(f"{summary}: {listing}", details={"errors": self.errors})


def number(
    errors: FieldErrors,
    field: str,
    value,
    *,
    minimum: Decimal | None = None,
    maximum: Decimal | None = None,
) -> Decimal | None:
    """Read a number within bounds; booleans and text that is no number are errors."""
    if isinstance(value, bool) or value is None or value == "":
        errors.add(field, "enter a number")
        return None
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors.add(field, f"{value!r} is not a number")
        return None
    if not result.is_finite():
        errors.add(field, "enter a finite number")
        return None
    if minimum is not None and result < minimum:
        errors.add(field, f"must be at least {_plain(minimum)}")
    elif maximum is not None and result > maximum:
        errors.add(field, f"must be at most {_plain(maximum)}")
    return result.quantize(Decimal("0.01"))


def _plain(value: Decimal) -> str:
    """Write a bound without trailing zeros: 5, 7.5."""
    return format(Decimal(value).normalize(), "f")


def text(
    errors: FieldErrors,
    field: str,
    value,
    *,
    required: bool = False,
    max_chars: int = 5000,
    min_chars: int = 0,
) -> str:
    """Read a text field within length limits."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.add(field, "enter text")
        return ""
    value = value.strip()
    if required and not value:
        errors.add(field, "this field is required")
    elif len(value) > max_chars:
        errors.add(field, f"at most {max_chars} characters (now {len(value)})")
    elif value and len(value) < min_chars:
        errors.add(field, f"at least {min_chars} characters (now {len(value)})")
    return value


def choice(errors: FieldErrors, field: str, value, options: tuple[str, ...]) -> str:
    """Read one of a fixed set of values."""
    if value not in options:
        errors.add(field, f"choose one of {', '.join(options)}")
        return ""
    return value


def future_instant(errors: FieldErrors, field: str, value) -> datetime | None:
    """Read an ISO 8601 date-time that lies in the future."""
    if not isinstance(value, str) or not value:
        errors.add(field, "enter a date and time such as 2026-11-30T18:00:00+08:00")
        return None
    try:
        moment = parse_instant(value)
    except ValueError:
        errors.add(field, f"{value!r} is not an ISO 8601 date and time")
        return None
    if moment <= utcnow():
        errors.add(field, "the deadline must lie in the future")
        return None
    return moment
