"""Units list, unit title pages, title review pages and the title task forms."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from app.models import CycleResult, HumanTask, TitleReview
from app.services import titles
from app.services.base import transaction
from app.services.timers import fire_due_timers
from tests.factories import build_world, sign_in


@pytest.fixture
def world(session, app):
    """The sample organisation with one title review started for the hospital."""
    built = build_world(session, Path(app.config["WENMING_UPLOAD_FOLDER"]), issue=False)
    with transaction(session):
        session.add(
            CycleResult(
                cycle_id=built.cycle.id,
                unit_id=built.units["hospital"].id,
                outcome="approved",
                grade="below",
                final_score=Decimal(72),
            )
        )
    titles.start_title_reviews(session, built.cycle)
    return built


def waiting(session, form_key: str) -> HumanTask:
    """Return the waiting task of the title review with this form key."""
    query = select(HumanTask).where(
        HumanTask.form_key == form_key, HumanTask.state == "ready"
    )
    return session.scalars(query).one()


def hospital_review(session) -> TitleReview:
    """Return the hospital's title review, freshly read."""
    query = select(TitleReview).execution_options(populate_existing=True)
    return session.scalars(query).one()


def listed_units(client, query: str = "") -> list[str]:
    """Return the unit codes the units list shows for a query string."""
    response = client.get(f"/units/?lang=en&{query}")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    return sorted(part.split('"', 1)[0] for part in body.split('data-unit="')[1:])


def through_the_forms(app, session) -> None:
    """County proposes a yellow card and the city approves, through the task pages."""
    county = sign_in(app, "county")
    task = waiting(session, "title_propose")
    page = county.get(f"/tasks/{task.id}?lang=en")
    assert "Score below the keep threshold" in page.get_data(as_text=True)
    response = county.post(
        f"/tasks/{task.id}",
        data={"proposal": "yellow_card", "reason": "得分偏低", "expected_version": ""},
    )
    assert response.status_code == 302

    city = sign_in(app, "city")
    task = waiting(session, "title_approve")
    page = city.get(f"/tasks/{task.id}?lang=en").get_data(as_text=True)
    assert "Yellow card warning" in page and "得分偏低" in page
    response = city.post(f"/tasks/{task.id}", data={"decision": "approve"})
    assert response.status_code == 302


def test_units_list_filters_by_status_level_type_and_name(app, session, world):
    """Each filter narrows the list to the matching units of the office's scope."""
    client = sign_in(app, "county")

    assert listed_units(client) == sorted(
        ["hospital", "school", "taxbureau", "bank", "materials", "community"]
    )
    assert listed_units(client, "status=yellow_card") == ["bank"]
    assert listed_units(client, "level=county") == ["bank", "community", "school"]
    assert listed_units(client, "level=none") == ["materials"]
    assert listed_units(client, "type=hospital") == ["hospital"]
    assert listed_units(client, "q=税务") == ["taxbureau"]
    assert listed_units(client, "q=%25") == []


def test_units_list_keeps_to_the_viewers_scope(app, session, world):
    """The other county sees only its school; a liaison sees only their unit."""
    assert listed_units(sign_in(app, "county2")) == ["otherschool"]
    assert listed_units(sign_in(app, "bank")) == ["bank"]
    assert "otherschool" in listed_units(sign_in(app, "city"))


def test_unknown_filter_value_is_reported_not_fatal(app, session, world):
    """An unknown status is named in a message and the full list is shown."""
    client = sign_in(app, "county")
    response = client.get("/units/?lang=en&status=golden")
    assert response.status_code == 200
    assert "unknown title status" in response.get_data(as_text=True)


def test_unit_outside_scope_is_not_found(app, session, world):
    """A unit of another county's subtree answers 404."""
    client = sign_in(app, "county2")
    response = client.get(f"/units/{world.units['hospital'].id}?lang=en")
    assert response.status_code == 404


def test_review_runs_through_the_task_pages_to_the_units_list(app, session, world):
    """Forms in the inbox move the review to its notice; the notice end applies it."""
    through_the_forms(app, session)
    review = hospital_review(session)
    assert review.status == "notice"

    city = sign_in(app, "city")
    page = city.get(f"/titles/{review.id}?lang=en").get_data(as_text=True)
    assert 'data-phase="notice"' in page
    assert 'id="record-objection"' in page

    with time_machine.travel(review.notice_ends_at + timedelta(minutes=5), tick=False):
        fire_due_timers(session)
    assert listed_units(city, "status=yellow_card") == ["bank", "hospital"]
    unit_page = city.get(f"/units/{world.units['hospital'].id}?lang=en")
    body = unit_page.get_data(as_text=True)
    assert 'data-to-status="yellow_card"' in body
    assert "得分偏低" in body


def test_objection_form_records_during_the_notice_only(app, session, world):
    """Office staff record an objection while the notice runs; later it is refused."""
    through_the_forms(app, session)
    review = hospital_review(session)
    county = sign_in(app, "county")

    empty = county.post(f"/titles/{review.id}/objections", data={"text": " "})
    assert empty.status_code == 422
    assert "this field is required" in empty.get_data(as_text=True)

    response = county.post(
        f"/titles/{review.id}/objections",
        data={"text": "整改已到位", "raised_by": "群众李某"},
    )
    assert response.status_code == 302
    page = county.get(f"/titles/{review.id}?lang=en").get_data(as_text=True)
    assert "整改已到位" in page and "群众李某" in page

    with time_machine.travel(review.notice_ends_at + timedelta(minutes=5), tick=False):
        late = county.post(f"/titles/{review.id}/objections", data={"text": "太晚"})
        assert late.status_code == 422
        assert "has ended" in late.get_data(as_text=True)
        fire_due_timers(session)
    task = waiting(session, "title_objections")
    page = sign_in(app, "city").get(f"/tasks/{task.id}?lang=en")
    assert "整改已到位" in page.get_data(as_text=True)


def test_proposal_form_errors_keep_the_task_waiting(app, session, world):
    """A rectification proposal without days is refused beside the field."""
    county = sign_in(app, "county")
    task = waiting(session, "title_propose")
    response = county.post(
        f"/tasks/{task.id}?lang=en",
        data={"proposal": "rectify", "rectify_days": "", "reason": "x"},
    )
    assert response.status_code == 422
    assert 'data-error-for="rectify_days"' in response.get_data(as_text=True)
    assert waiting(session, "title_propose").id == task.id


def test_office_admin_starts_a_review_from_the_unit_page(app, session, world):
    """The start button appears for an office admin and opens the review page."""
    county = sign_in(app, "county")
    unit_id = world.units["community"].id
    page = county.get(f"/units/{unit_id}?lang=en").get_data(as_text=True)
    assert 'id="start-review"' in page

    response = county.post(
        f"/units/{unit_id}/title-reviews", data={"reason": "complaint"}
    )
    assert response.status_code == 302
    assert "/titles/" in response.headers["Location"]
    page = county.get(f"/units/{unit_id}?lang=en").get_data(as_text=True)
    assert 'id="start-review"' not in page

    reviewer = sign_in(app, "county_b")
    page = reviewer.get(f"/units/{unit_id}?lang=en").get_data(as_text=True)
    assert 'id="start-review"' not in page


def test_units_page_in_chinese_names_the_statuses(app, session, world):
    """The list reads in Chinese by default: a yellow card shows as 黄牌."""
    client = sign_in(app, "county")
    body = client.get("/units/?lang=zh_Hans").get_data(as_text=True)
    assert "黄牌" in body
    assert "单位" in body


def test_liaison_reads_the_review_but_cannot_object(app, session, world):
    """The unit's liaison sees the review page without the objection form."""
    through_the_forms(app, session)
    review = hospital_review(session)
    liaison = sign_in(app, "hospital")
    page = liaison.get(f"/titles/{review.id}?lang=en")
    assert page.status_code == 200
    assert 'id="record-objection"' not in page.get_data(as_text=True)
    refused = liaison.post(f"/titles/{review.id}/objections", data={"text": "反对"})
    assert refused.status_code == 403
    assert sign_in(app, "county2").get(f"/titles/{review.id}").status_code == 404


def test_the_review_instance_page_opens(app, session, world):
    """The instance page of a title review shows its diagram and timeline."""
    review = hospital_review(session)
    response = sign_in(app, "county").get(f"/instances/{review.instance_id}?lang=en")
    assert response.status_code == 200
