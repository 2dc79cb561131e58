"""Ledger entries offered on the unit submission and attached as evidence."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from app.models import EvidenceFile, Submission, SubmissionResponse
from app.models.ledger import LedgerAttachment
from app.services import (
    cycles,
    demo,
    indicators,
    ledger,
    ledger_submissions,
    submissions,
    tasks,
)
from app.services.base import transaction
from app.services.demo_data import INDICATOR_SYSTEM
from processes.errors import Conflict
from tests.factories import make_cycle, ready_tasks, sign_in, task_for
from tests.integration.test_ledger import add_file, jpeg, record


def with_photos(session, world, unit: str = "hospital", photos: int = 2, **changes):
    """Record an entry of this year with photos; return it."""
    changes.setdefault("occurred_on", ledger.today_for(world.units[unit]).isoformat())
    entry = record(session, world, unit, **changes)
    for number in range(photos):
        photo = jpeg(size=(64 + number, 48))
        add_file(session, world, entry, f"现场{number + 1}.jpg", photo, unit)
    return entry


def response_files(session, task, code: str = "B4") -> list[EvidenceFile]:
    """Return the evidence of the task's answer to an indicator."""
    return list(
        session.scalars(
            select(EvidenceFile)
            .join(SubmissionResponse, SubmissionResponse.id == EvidenceFile.response_id)
            .join(Submission, Submission.id == SubmissionResponse.submission_id)
            .where(Submission.instance_id == task.instance_id)
            .order_by(EvidenceFile.id)
        )
    )


def attach(session, world, task, ids: set[int], unit: str = "hospital", code="B4"):
    """Tick these entries under an indicator, as the submission form would."""
    offers = ledger_submissions.offers_for_task(session, world.users[unit], task)
    offered = {code: {o.entry.id for o in offers.get(code, [])}}
    ledger_submissions.sync_entries(
        session, world.users[unit], task.id, offered, {code: ids}
    )


def test_entries_of_the_indicator_and_period_are_offered(session, world):
    """Only the unit's own B4 entries of the last twelve months are offered."""
    recent = with_photos(session, world, photos=0)
    old_day = ledger.today_for(world.units["hospital"]) - timedelta(days=800)
    record(session, world, occurred_on=old_day.isoformat(), title="很久以前")
    record(session, world, code="C2", occurred_on=recent.occurred_on.isoformat())
    with_photos(session, world, "school", photos=0)
    task = task_for(session, world.users["hospital"], "hospital")

    offers = ledger_submissions.offers_for_task(session, world.users["hospital"], task)

    assert [o.entry.id for o in offers["B4"]] == [recent.id]
    assert [o.entry.indicator_code for o in offers["C2"]] == ["C2"]
    assert (
        ledger_submissions.offers_for_task(session, world.users["county"], task) == {}
    )


def test_ticked_entry_attaches_its_files_once_and_unticking_takes_them_off(
    session, world
):
    """Attaching copies the rows, not the bytes; twice adds nothing; untick removes."""
    entry = with_photos(session, world)
    task = task_for(session, world.users["hospital"], "hospital")
    stored_files = sorted(p for p in world.upload_folder.rglob("*") if p.is_file())

    attach(session, world, task, {entry.id})
    attach(session, world, task, {entry.id})

    copies = response_files(session, task)
    assert len(copies) == 2
    own = ledger.entry_files(session, entry)
    assert {c.sha256 for c in copies} == {f.sha256 for f in own}
    assert all(c.ledger_entry_id == entry.id for c in copies)
    assert sorted(p for p in world.upload_folder.rglob("*") if p.is_file()) == (
        stored_files
    )
    offers = ledger_submissions.offers_for_task(session, world.users["hospital"], task)
    assert offers["B4"][0].attached

    attach(session, world, task, set())
    assert response_files(session, task) == []
    assert session.scalar(select(func.count()).select_from(LedgerAttachment)) == 0
    assert len(ledger.entry_files(session, entry)) == 2


def test_files_added_to_an_attached_entry_follow_on_the_next_save(session, world):
    """A photo added after attaching is copied when the form is saved again."""
    entry = with_photos(session, world, photos=1)
    task = task_for(session, world.users["hospital"], "hospital")
    attach(session, world, task, {entry.id})

    add_file(session, world, entry, "补充.jpg", jpeg(size=(90, 60)))
    attach(session, world, task, {entry.id})

    assert [f.filename for f in response_files(session, task)] == [
        "现场1.jpg",
        "补充.jpg",
    ]


def test_another_units_entry_cannot_be_attached(session, world):
    """A forged tick of the school's entry is refused and nothing is attached."""
    foreign = with_photos(session, world, "school")
    task = task_for(session, world.users["hospital"], "hospital")

    errors = ledger_submissions.attach_from_form(
        session,
        world.users["hospital"],
        task.id,
        _form({"ledger_offered_B4": str(foreign.id), "ledger_B4": [str(foreign.id)]}),
    )

    assert "B4.evidence" in errors
    assert response_files(session, task) == []


def test_attached_photos_count_for_the_indicator_rule(session, world):
    """B4 needs two photos: two from the ledger let the submission complete."""
    entry = with_photos(session, world)
    task = task_for(session, world.users["hospital"], "hospital")
    attach(session, world, task, {entry.id})
    data = {"responses": _complete_answers(session, world, task)}

    tasks.complete(session, world.users["hospital"], task.id, data)

    submission = session.scalars(
        select(Submission).where(Submission.instance_id == task.instance_id)
    ).one()
    assert submission.status == "submitted"
    with pytest.raises(Conflict, match="submission already sent"):
        ledger.delete_entry(session, world.users["hospital"], entry.id)


def test_entry_is_offered_in_a_later_cycle_with_a_new_system_version(session, world):
    """An entry recorded against version 1's B4 is offered under version 2's B4."""
    entry = with_photos(session, world, photos=1)
    with transaction(session):
        newer = indicators.create_system(
            session, office=world.offices["P01"], **INDICATOR_SYSTEM
        )
        cycle = make_cycle(session, world.offices["C01"], newer, name="2027年度")
    cycles.issue_cycle(session, cycle)
    task = next(
        t
        for t in ready_tasks(session, world.units["hospital"])
        if t.cycle_id == cycle.id
    )

    offers = ledger_submissions.offers_for_task(session, world.users["hospital"], task)

    assert [o.entry.id for o in offers["B4"]] == [entry.id]
    assert entry.indicator_id not in {i.id for i in newer.indicators if i.code == "B4"}


def test_form_ticks_attach_and_the_page_shows_where_evidence_came_from(
    app, session, world
):
    """Saving the draft with a tick shows the files "from ledger" and the tick kept."""
    entry = with_photos(session, world)
    task = task_for(session, world.users["hospital"], "hospital")
    task_id, entry_id = task.id, entry.id
    client = sign_in(app, "hospital")

    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert f'name="ledger_B4" value="{entry_id}"' in page

    response = client.post(
        f"/tasks/{task_id}/draft",
        data={
            "expected_version": "",
            "ledger_offered_B4": str(entry_id),
            "ledger_B4": str(entry_id),
        },
    )
    assert response.status_code == 302

    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert f"from ledger: 春节义诊进社区 ({entry.occurred_on.isoformat()})" in page
    ticked = rf'<input[^>]*data-ledger-entry="{entry_id}"[^>]*checked'
    assert re.search(ticked, page)


def test_reviewer_sees_ledger_source_beside_the_evidence(app, session, world):
    """After submission the county reviewer's form names the ledger entry."""
    entry = with_photos(session, world)
    task = task_for(session, world.users["hospital"], "hospital")
    attach(session, world, task, {entry.id})
    tasks.complete(
        session,
        world.users["hospital"],
        task.id,
        {"responses": _complete_answers(session, world, task)},
    )
    review = task_for(session, world.users["county"], "hospital")

    client = sign_in(app, "county")
    page = client.get(f"/tasks/{review.id}").get_data(as_text=True)

    assert "from ledger: 春节义诊进社区" in page


def _form(values: dict) -> MultiDict:
    pairs = []
    for key, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, item))
    return MultiDict(pairs)


def _complete_answers(session, world, task, unit: str = "hospital") -> dict:
    """Answer every base indicator; files meet each rule except B4's photos."""
    system = submissions.indicator_system_of(session, task)
    answers = {}
    for indicator in system.scoring_indicators():
        if not indicator.answerable_by_unit or indicator.kind != "base":
            continue
        if indicator.code != "B4":
            _upload_required(session, world, task, indicator, unit)
        answers[indicator.code] = {
            "self_score": str(indicator.points - 1),
            "explanation": demo.demo_explanation(
                indicator.name, indicator.min_explanation_chars
            ),
        }
    return answers


def _upload_required(session, world, task, indicator, unit: str) -> None:
    files = [
        (f"{indicator.code}-{n}.png", demo.tiny_png(n + indicator.id))
        for n in range(indicator.min_photos)
    ] + [
        (f"{indicator.code}-{n}.pdf", demo.tiny_pdf(f"{indicator.code}-{n}"))
        for n in range(indicator.min_documents)
    ]
    for filename, content in files:
        submissions.attach_evidence(
            session,
            world.users[unit],
            task.id,
            indicator.code,
            filename=filename,
            content=content,
            upload_folder=world.upload_folder,
        )
