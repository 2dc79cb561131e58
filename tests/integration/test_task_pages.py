"""Task pages: permissions, drafts, evidence, completion, errors and conflicts."""

from __future__ import annotations

from io import BytesIO

import pytest
from sqlalchemy import select

from app.models import (
    AuditEvent,
    EvidenceFile,
    HumanTask,
    ProcessInstance,
    RectificationItem,
)
from app.services.demo import tiny_pdf, tiny_png
from app.services.markdown import render_markdown
from app.services.rectification import attach_item_evidence
from processes.errors import InvalidInput
from tests.factories import review, sign_in, submit, task_for


def materials_task(session, world) -> HumanTask:
    """Return the materials company's waiting submission task."""
    return task_for(session, world.users["materials"], "materials")


def answerable_base(world) -> list:
    """Return the base indicators the unit answers itself."""
    return [
        i
        for i in world.system.scoring_indicators()
        if i.kind == "base" and not i.office_only
    ]


def test_liaison_sees_their_submission_page(app, session, world):
    """The unit's liaison opens their task and sees the indicators and version."""
    task = materials_task(session, world)
    client = sign_in(app, "materials")

    response = client.get(f"/tasks/{task.id}?lang=en")

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-indicator="A1"' in body
    assert 'name="A1_self_score"' in body
    assert 'data-office-only="true"' in body
    assert 'name="D1_self_score"' not in body
    assert 'name="expected_version"' in body
    assert world.units["materials"].name in body


@pytest.mark.parametrize("username", ["hospital", "county2"])
def test_task_outside_scope_is_not_found(app, session, world, username):
    """Another unit's liaison and another county's reviewer get 404."""
    task = materials_task(session, world)
    client = sign_in(app, username)

    assert client.get(f"/tasks/{task.id}").status_code == 404
    assert client.post(f"/tasks/{task.id}", data={}).status_code == 404


def test_reviewer_cannot_work_the_unit_lane(app, session, world):
    """The county reviewer sees the unit's task in scope but may not act: 403."""
    task = materials_task(session, world)
    client = sign_in(app, "county")

    assert client.get(f"/tasks/{task.id}").status_code == 403


def test_draft_is_saved_and_prefills_the_form(app, session, world):
    """A saved draft comes back in the form when the liaison reopens the task."""
    task = materials_task(session, world)
    client = sign_in(app, "materials")

    response = client.post(
        f"/tasks/{task.id}/draft",
        data={"A3_self_score": "4", "A3_explanation": "档案按月整理归档"},
    )
    page = client.get(f"/tasks/{task.id}?lang=en").get_data(as_text=True)

    assert response.status_code == 302
    assert 'value="4"' in page
    assert "档案按月整理归档" in page


def test_evidence_upload_and_scoped_download(app, session, world):
    """An uploaded photo is previewed, downloadable in scope, hidden elsewhere."""
    task = materials_task(session, world)
    client = sign_in(app, "materials")
    png = tiny_png(3)

    response = client.post(
        f"/tasks/{task.id}/evidence",
        data={"upload": "A1", "files_A1": [(BytesIO(png), "会议照片.png")]},
        content_type="multipart/form-data",
    )
    stored = session.scalars(select(EvidenceFile)).one()
    page = client.get(f"/tasks/{task.id}?lang=en").get_data(as_text=True)
    download = client.get(f"/tasks/evidence/{stored.id}")

    assert response.status_code == 302
    assert f'src="/tasks/evidence/{stored.id}"' in page
    assert download.status_code == 200
    assert download.data == png
    assert download.mimetype == "image/png"
    assert download.headers["Content-Disposition"].startswith("inline")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    download.close()
    other = sign_in(app, "hospital")
    assert other.get(f"/tasks/evidence/{stored.id}").status_code == 404


def test_pdf_evidence_downloads_as_attachment(app, session, world):
    """A document is offered as a download, never shown inline."""
    task = materials_task(session, world)
    client = sign_in(app, "materials")
    client.post(
        f"/tasks/{task.id}/evidence",
        data={"upload": "A1", "files_A1": [(BytesIO(tiny_pdf("x")), "纪要.pdf")]},
        content_type="multipart/form-data",
    )
    stored = session.scalars(select(EvidenceFile)).one()

    download = client.get(f"/tasks/evidence/{stored.id}")

    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.mimetype == "application/pdf"
    download.close()


def test_bad_file_type_is_refused_with_a_message(app, session, world):
    """A text file posing as evidence is refused beside its indicator."""
    task = materials_task(session, world)
    client = sign_in(app, "materials")

    response = client.post(
        f"/tasks/{task.id}/evidence?lang=en",
        data={
            "upload": "A1",
            "A1_explanation": "typed before upload",
            "files_A1": [(BytesIO(b"just text"), "notes.txt")],
        },
        content_type="multipart/form-data",
    )

    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-error-for="A1.evidence"' in body
    assert "notes.txt" in body
    assert "typed before upload" in body
    assert session.scalars(select(EvidenceFile)).first() is None


def full_submission_form(world) -> dict:
    """Return form fields answering every base indicator with its evidence."""
    data = {}
    for indicator in answerable_base(world):
        code = indicator.code
        data[f"{code}_self_score"] = str(indicator.points - 1)
        data[f"{code}_explanation"] = "按计划开展，材料齐全。".ljust(
            indicator.min_explanation_chars, "。"
        )
        files = [
            (BytesIO(tiny_png(n + indicator.id)), f"{code}-{n}.png")
            for n in range(indicator.min_photos)
        ]
        files += [
            (BytesIO(tiny_pdf(f"{code}{n}")), f"{code}-{n}.pdf")
            for n in range(indicator.min_documents)
        ]
        if files:
            data[f"files_{code}"] = files
    return data


def test_full_submission_through_the_form(app, session, world):
    """The liaison submits the whole form; the task goes on to the county."""
    task = materials_task(session, world)
    client = sign_in(app, "materials")

    response = client.post(
        f"/tasks/{task.id}",
        data=full_submission_form(world),
        content_type="multipart/form-data",
    )

    assert response.status_code == 302
    assert response.headers["Location"] in ("/inbox/", "/inbox", "/")
    session.expire_all()
    assert session.get(HumanTask, task.id).state == "completed"
    review = task_for(session, world.users["county"], "materials")
    assert review.form_key == "review"


def review_form(session, world, **changes) -> dict:
    """Return review form fields that would approve the unit."""
    data = {
        f"scores_{i.code}": str(i.points - 1)
        for i in world.system.scoring_indicators()
        if i.kind == "base"
    }
    data.update(decision="approve", opinion="typed opinion 材料基本齐全")
    data.update(changes)
    return data


def test_review_with_bad_score_shows_the_error_and_keeps_values(app, session, world):
    """A score above the points is marked beside its field; nothing is recorded."""
    submit(session, world, "materials")
    task = task_for(session, world.users["county"], "materials")
    client = sign_in(app, "county")

    response = client.post(
        f"/tasks/{task.id}?lang=en", data=review_form(session, world, scores_A1="99")
    )

    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-error-for="scores_A1"' in body
    assert 'value="99"' in body
    assert "typed opinion 材料基本齐全" in body
    assert 'id="form-summary"' in body
    session.expire_all()
    assert session.get(HumanTask, task.id).state == "ready"


def test_review_page_shows_the_unit_self_scores(app, session, world):
    """The reviewer sees the unit's self-score beside each indicator."""
    submit(session, world, "materials")
    task = task_for(session, world.users["county"], "materials")
    client = sign_in(app, "county")

    body = client.get(f"/tasks/{task.id}?lang=en").get_data(as_text=True)

    assert 'data-self-score="4.00"' in body
    assert 'name="scores_A1"' in body
    assert 'data-action="task.completed"' in body


def test_stale_version_is_a_conflict_with_values_kept(app, session, world):
    """A form opened before the instance changed answers 409 and keeps the input."""
    submit(session, world, "materials")
    task = task_for(session, world.users["county"], "materials")
    version = session.get(ProcessInstance, task.instance_id).lock_version
    client = sign_in(app, "county")

    response = client.post(
        f"/tasks/{task.id}?lang=en",
        data=review_form(session, world, expected_version=str(version - 1)),
    )

    body = response.get_data(as_text=True)
    assert response.status_code == 409
    assert 'data-status="conflict"' in body
    assert "typed opinion 材料基本齐全" in body
    session.expire_all()
    assert session.get(HumanTask, task.id).state == "ready"


def test_double_submit_gets_the_same_clear_conflict(app, session, world):
    """Sending a completed review again answers 409 and records nothing twice."""
    submit(session, world, "materials")
    task = task_for(session, world.users["county"], "materials")
    client = sign_in(app, "county")
    data = review_form(session, world)

    first = client.post(f"/tasks/{task.id}", data=data)
    second = client.post(f"/tasks/{task.id}?lang=en", data=data)

    assert first.status_code == 302
    assert second.status_code == 409
    assert "already completed" in second.get_data(as_text=True)


def test_instructions_are_rendered_without_scripts(app, session, world):
    """Markdown instructions lose script tags and javascript: links."""
    task = materials_task(session, world)
    task.instructions = (
        "**按时上报**\n\n<script>alert(1)</script>\n\n[点此](javascript:alert(2))"
    )
    session.commit()
    client = sign_in(app, "materials")

    body = client.get(f"/tasks/{task.id}").get_data(as_text=True)

    assert "<strong>按时上报</strong>" in body
    assert "alert(1)" not in body
    assert "javascript:" not in body


def test_markdown_keeps_safe_links_only():
    """Only http, https and mailto links survive, with rel set."""
    html = render_markdown("[a](https://example.org) [b](javascript:x) <b onclick=x>")

    assert 'href="https://example.org"' in html
    assert "javascript" not in html
    assert "onclick" not in html


TWO_ITEMS = [
    {"indicator": "B4", "description": "节日活动照片未显示单位名称"},
    {"indicator": None, "description": "宣传栏内容未更新"},
]


def rectification_task(session, world) -> tuple[HumanTask, list[RectificationItem]]:
    """Bring the materials company to a rectification with two items."""
    submit(session, world, "materials")
    review(session, world, "county", "materials", "rectify", items=TWO_ITEMS)
    task = task_for(session, world.users["materials"], "materials")
    assert task.form_key == "rectification"
    items = session.scalars(
        select(RectificationItem).order_by(RectificationItem.id)
    ).all()
    return task, list(items)


def item_files(session, item: RectificationItem) -> list[EvidenceFile]:
    """Return the new evidence attached to a rectification item."""
    query = select(EvidenceFile).where(EvidenceFile.rectification_item_id == item.id)
    return list(session.scalars(query))


def test_rectification_takes_new_evidence_per_item(app, session, world):
    """Files sent with the rectification reach the verifier and the county only."""
    task, (first, second) = rectification_task(session, world)
    client = sign_in(app, "materials")
    page = client.get(f"/tasks/{task.id}?lang=en").get_data(as_text=True)
    assert f'name="files_item_{first.id}"' in page
    png = tiny_png(41)

    response = client.post(
        f"/tasks/{task.id}",
        data={
            f"responses_{first.id}": "照片已补拍，显示单位名称",
            f"responses_{second.id}": "宣传栏已更新",
            f"files_item_{first.id}": [
                (BytesIO(png), "整改照片.png"),
                (BytesIO(tiny_pdf("整改")), "整改报告.pdf"),
            ],
        },
        content_type="multipart/form-data",
    )

    assert response.status_code == 302
    session.expire_all()
    assert session.get(HumanTask, task.id).state == "completed"
    photo, report = item_files(session, first)
    assert (photo.filename, report.filename) == ("整改照片.png", "整改报告.pdf")
    assert photo.unit_id == world.units["materials"].id
    assert item_files(session, second) == []
    uploaded = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "evidence.uploaded")
    ).all()
    assert {e.detail.get("rectification_item") for e in uploaded} >= {first.id}

    county = sign_in(app, "county")
    verification = task_for(session, world.users["county"], "materials")
    assert verification.form_key == "verification"
    body = county.get(f"/tasks/{verification.id}?lang=en").get_data(as_text=True)
    assert f'data-evidence-for-item="{first.id}"' in body
    assert f'src="/tasks/evidence/{photo.id}"' in body
    assert f'href="/tasks/evidence/{report.id}"' in body
    assert f'data-evidence-for-item="{second.id}"' not in body
    instance = county.get(f"/instances/{task.instance_id}?lang=en")
    assert f'href="/tasks/evidence/{photo.id}"' in instance.get_data(as_text=True)
    download = county.get(f"/tasks/evidence/{photo.id}")
    assert download.status_code == 200
    assert download.data == png
    download.close()

    other = sign_in(app, "hospital")
    assert other.get(f"/tasks/evidence/{photo.id}").status_code == 404


def test_refused_item_file_keeps_the_typed_responses(app, session, world):
    """A text file beside one item is refused there; nothing is sent or stored."""
    task, (first, second) = rectification_task(session, world)
    client = sign_in(app, "materials")

    response = client.post(
        f"/tasks/{task.id}?lang=en",
        data={
            f"responses_{first.id}": "typed response one",
            f"responses_{second.id}": "typed response two",
            f"files_item_{second.id}": [(BytesIO(b"just text"), "notes.txt")],
        },
        content_type="multipart/form-data",
    )

    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'data-error-for="items.{second.id}.evidence"' in body
    assert f'data-error-for="items.{first.id}.evidence"' not in body
    assert "notes.txt" in body
    assert "typed response one" in body
    assert "typed response two" in body
    session.expire_all()
    assert session.get(HumanTask, task.id).state == "ready"
    assert item_files(session, second) == []
    assert session.get(RectificationItem, first.id).response == ""


def test_item_evidence_needs_an_item_of_the_open_order(app, session, world):
    """A file cannot be attached to an item outside the task's rectification."""
    task, _items = rectification_task(session, world)

    with pytest.raises(InvalidInput):
        attach_item_evidence(
            session,
            world.users["materials"],
            task.id,
            99999,
            filename="x.png",
            content=tiny_png(1),
            upload_folder=world.upload_folder,
        )
    assert (
        session.scalars(
            select(EvidenceFile).where(EvidenceFile.rectification_item_id.is_not(None))
        ).all()
        == []
    )
