"""Map the form keys named in diagrams to the services that complete them."""

from __future__ import annotations

from forms.registry import FORM_KEYS
from processes.errors import EngineError


def handler_for(form_key: str):
    """Return the completion handler of a form key, or say the key is unknown."""
    from app.services import (
        public_steps,
        rectification,
        reviews,
        signoff,
        submissions,
        titles,
    )

    handlers = {
        "unit_submission": submissions.complete_submission,
        "leader_signoff": signoff.complete_signoff,
        "review": reviews.complete_review,
        "rectification": rectification.complete_rectification,
        "verification": rectification.complete_verification,
        "title_propose": titles.complete_proposal,
        "title_approve": titles.complete_approval,
        "title_objections": titles.complete_objections,
        "public_triage": public_steps.complete_triage,
        "public_verify": public_steps.complete_verification,
        "public_rectify": public_steps.complete_rectification,
        "public_check": public_steps.complete_check,
        "public_feedback": public_steps.complete_feedback,
    }
    if form_key not in FORM_KEYS or form_key not in handlers:
        raise EngineError(
            f"the task uses form {form_key!r}, which this platform does not know; "
            "an administrator must correct the diagram's form key"
        )
    return handlers[form_key]
