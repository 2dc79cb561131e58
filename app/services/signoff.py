"""The unit leader's sign-off of a submission before it leaves the unit."""

from __future__ import annotations

from sqlalchemy import select

from app.models import Submission, record_event
from app.services.fields import FieldErrors, choice, text
from app.services.tasks import run_step

DECISIONS = ("approve", "return")


def complete_signoff(session, user, task, data, expected_version):
    """Approve the submission, or return it to the liaison with an opinion."""
    errors = FieldErrors()
    decision = choice(errors, "decision", data.get("decision"), DECISIONS)
    opinion = text(
        errors, "opinion", data.get("opinion"), required=decision == "return"
    )
    errors.raise_if_any("the sign-off cannot be recorded")

    if decision == "return":
        query = select(Submission).where(Submission.instance_id == task.instance_id)
        for submission in session.scalars(query):
            submission.status = "returned"
    record_event(
        session,
        "submission.signed_off",
        actor_id=user.id,
        instance_id=task.instance_id,
        decision=decision,
        opinion=opinion,
    )
    return run_step(
        session, user, task, {"signoff_decision": decision}, expected_version
    )
