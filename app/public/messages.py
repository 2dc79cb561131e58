"""What the public report form says when it refuses a report, per refusal code."""

from __future__ import annotations

from flask_babel import gettext as _

from app.services import public_photos
from app.services.public_reports import MAX_DESCRIPTION_CHARS


def refusal(code: str) -> str:
    """Return the translated message of a refusal code from the report services."""
    messages = {
        "honeypot": _("The form could not be accepted. Please fill it in again."),
        "too_fast": _(
            "The form was sent too quickly. Please check your entries and send "
            "it again."
        ),
        "expired": _(
            "The form has expired. Please answer the new question and send it again."
        ),
        "wrong_answer": _("The answer to the question is wrong. Please try again."),
        "rate_limited": _(
            "Too many reports have been sent from your network in the last hour. "
            "Please try again later."
        ),
        "busy": _("Too many reports are arriving right now. Please try again later."),
        "too_many": _(
            "Attach at most %(count)d photos.", count=public_photos.MAX_PHOTOS
        ),
        "too_large": _(
            "Each photo may have at most %(mb)d MB.",
            mb=public_photos.MAX_PHOTO_BYTES // (1024 * 1024),
        ),
        "not_image": _(
            "Only photos (JPEG, PNG or WebP) can be attached; a chosen file is "
            "not a photo."
        ),
        "bomb": _("A chosen photo has too many pixels to be processed."),
        "broken": _("A chosen photo is damaged or incomplete and cannot be read."),
        "unit": _("Choose the unit from the list."),
        "category": _("Choose the kind of problem."),
        "required": _("Describe the problem."),
        "too_long": _(
            "The description may have at most %(count)d characters.",
            count=MAX_DESCRIPTION_CHARS,
        ),
        "contact_name": _("The name may have at most 60 characters."),
        "contact_phone": _("Enter a valid phone number."),
        "contact_email": _("Enter a valid e-mail address."),
    }
    return messages.get(code, _("The report could not be filed. Please check it."))
