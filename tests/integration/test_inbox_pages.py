"""The inbox pages through the test client: listing, filters, claims, views, bell."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.models import HumanTask, Notification, SavedFilter
from app.services import notifications
from tests.factories import PASSWORD, submit, task_for

API = "/api/v1"


def sign_in(client, username: str) -> None:
    """Sign in through the login form and switch the pages to English."""
    response = client.post(
        "/auth/login", data={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 302
    client.get("/inbox/?lang=en")


def task_ids(response) -> list[int]:
    """Return the task ids of the inbox rows, in order."""
    return [int(n) for n in re.findall(r'data-task-id="(\d+)"', response.text)]


@pytest.fixture
def submitted(session, world):
    """Have the school and the hospital submit, so two county reviews wait."""
    submit(session, world, "school")
    submit(session, world, "hospital")
    return world


def county_task(session, world, unit_code: str) -> HumanTask:
    """Return the county review task of a unit."""
    return task_for(session, world.users["county"], unit_code)


def test_county_sees_the_schools_submitted_task(session, client, submitted):
    """After the school submits, its review task is listed in the county inbox."""
    task = county_task(session, submitted, "school")
    sign_in(client, "county")

    response = client.get("/inbox/")

    assert response.status_code == 200
    assert task.id in task_ids(response)
    assert f'href="/tasks/{task.id}"' in response.text
    assert 'data-lane="county"' in response.text
    assert 'data-state="new"' in response.text


def test_filters_sort_and_pages_live_in_the_url(session, client, submitted):
    """A one-per-page view pages through both tasks; links keep the filters."""
    school = county_task(session, submitted, "school")
    hospital = county_task(session, submitted, "hospital")
    sign_in(client, "county")

    first = client.get("/inbox/?sort=unit&per_page=1&level=county")
    second = client.get("/inbox/?sort=unit&per_page=1&level=county&page=2")
    school_only = client.get("/inbox/?unit_type=school")
    overdue = client.get("/inbox/?due=overdue")

    assert len(task_ids(first)) == 1
    assert set(task_ids(first) + task_ids(second)) == {school.id, hospital.id}
    assert 'data-page="2"' in first.text
    assert "per_page=1" in re.search(r'href="([^"]*)" rel="next"', first.text)[1]
    assert task_ids(school_only) == [school.id]
    assert task_ids(overdue) == []


def test_invalid_filters_show_their_errors(session, client, submitted):
    """Bad filter values are named on the page, and the other tasks still show."""
    sign_in(client, "county")

    response = client.get("/inbox/?level=mayor&page=zero&due=soon")

    assert response.status_code == 200
    for name in ("level", "page", "due"):
        assert f'data-field="{name}"' in response.text
    assert len(task_ids(response)) == 2


def test_office_outside_scope_is_an_error_not_a_crash(session, client, submitted):
    """Filtering by another county's office shows an error on the office field."""
    sign_in(client, "county")
    other = submitted.offices["Y01"].id

    response = client.get(f"/inbox/?office_id={other}")

    assert response.status_code == 200
    assert 'data-field="office_id"' in response.text


def test_claim_and_release_return_to_the_same_view(session, client, submitted):
    """Claiming then releasing a task redirects back to the view the user had."""
    task = county_task(session, submitted, "school")
    county = submitted.users["county"]
    sign_in(client, "county")

    claimed = client.post(
        f"/inbox/tasks/{task.id}/claim", data={"view": "sort=due&due=week"}
    )
    session.refresh(task)
    holder_after_claim = task.claimed_by_id
    page = client.get("/inbox/?sort=due")
    released = client.post(f"/inbox/tasks/{task.id}/unclaim", data={"view": ""})
    session.refresh(task)

    assert claimed.status_code == 302
    assert claimed.headers["Location"].endswith("/inbox/?sort=due&due=week")
    assert holder_after_claim == county.id
    assert 'data-state="claimed-by-me"' in page.text
    assert "You claimed" in page.text
    assert released.headers["Location"].endswith("/inbox/")
    assert task.claimed_by_id is None


def test_claim_refused_is_a_flash_naming_the_task(session, client, submitted):
    """A liaison trying to claim a county review gets a message, not an error page."""
    task = county_task(session, submitted, "school")
    sign_in(client, "hospital")

    response = client.post(
        f"/inbox/tasks/{task.id}/claim", data={"view": ""}, follow_redirects=True
    )
    session.refresh(task)

    assert response.status_code == 200
    assert f"Could not claim task #{task.id}" in response.text
    assert task.claimed_by_id is None


def test_office_admin_assigns_a_task_to_a_reviewer(session, client, submitted):
    """The county administrator gives a task to a colleague, who is notified."""
    task = county_task(session, submitted, "school")
    colleague = submitted.users["county_b"]
    sign_in(client, "county")

    page = client.get("/inbox/")
    response = client.post(
        f"/inbox/tasks/{task.id}/assign",
        data={"assignee_id": colleague.id, "view": ""},
        follow_redirects=True,
    )
    session.refresh(task)
    note = session.scalars(
        select(Notification).where(
            Notification.user_id == colleague.id, Notification.kind == "assigned"
        )
    ).one()

    assert f'id="assign-{task.id}"' in page.text
    assert f'<option value="{colleague.id}">' in page.text
    assert task.claimed_by_id == colleague.id
    assert "is now assigned to county_b" in response.text
    assert note.task_id == task.id


def test_reviewer_without_admin_role_gets_no_assign_controls(
    session, client, submitted
):
    """A plain reviewer sees no assign select and no bulk form."""
    sign_in(client, "county_b")

    response = client.get("/inbox/")

    assert len(task_ids(response)) == 2
    assert 'id="bulk-form"' not in response.text
    assert "inbox-assign" not in response.text


def test_bulk_claim_reports_successes_and_failures(session, client, submitted):
    """Bulk claim takes the free tasks and names the one it could not take."""
    school = county_task(session, submitted, "school")
    hospital = county_task(session, submitted, "hospital")
    sign_in(client, "county_b")
    client.post(f"/inbox/tasks/{hospital.id}/claim", data={"view": ""})
    client.post("/auth/logout")
    sign_in(client, "county")

    response = client.post(
        "/inbox/bulk",
        data={"action": "claim", "task_ids": [school.id, hospital.id], "view": ""},
        follow_redirects=True,
    )
    session.refresh(school)
    session.refresh(hospital)

    assert school.claimed_by_id == submitted.users["county"].id
    assert hospital.claimed_by_id == submitted.users["county_b"].id
    assert "1 task done." in response.text
    assert "1 task failed" in response.text
    assert "is claimed by county_b" in response.text


def test_bulk_assign_gives_every_selected_task(session, client, submitted):
    """Bulk assign gives both selected tasks to the chosen reviewer."""
    ids = [county_task(session, submitted, c).id for c in ("school", "hospital")]
    colleague = submitted.users["county_b"]
    sign_in(client, "county")

    client.post(
        "/inbox/bulk",
        data={
            "action": "assign",
            "task_ids": ids,
            "assignee_id": colleague.id,
            "view": "",
        },
    )
    holders = session.scalars(
        select(HumanTask.claimed_by_id).where(HumanTask.id.in_(ids))
    ).all()

    assert holders == [colleague.id, colleague.id]


def test_saved_views_are_created_listed_and_deleted(session, client, submitted):
    """A saved view keeps the filters (not the page) and can be deleted."""
    county = submitted.users["county"]
    sign_in(client, "county")

    client.post(
        "/inbox/views",
        data={"name": "学校", "view": "unit_type=school&sort=due&page=3"},
    )
    saved = session.scalars(
        select(SavedFilter).where(SavedFilter.user_id == county.id)
    ).one()
    listed = client.get("/inbox/")
    opened = client.get(f"/inbox/?{saved.query}")
    client.post(f"/inbox/views/{saved.id}/delete", data={"view": ""})
    remaining = session.scalars(select(SavedFilter)).all()

    assert saved.name == "学校"
    assert saved.query == "unit_type=school&sort=due"
    assert f'data-saved-view="{saved.id}"' in listed.text
    assert f'href="/inbox/?{saved.query}"'.replace("&", "&amp;") in listed.text
    assert task_ids(opened) == [county_task(session, submitted, "school").id]
    assert remaining == []


def test_saved_view_needs_a_name(session, client, submitted):
    """Saving a view without a name is refused with a message."""
    sign_in(client, "county")

    response = client.post(
        "/inbox/views", data={"name": " ", "view": ""}, follow_redirects=True
    )

    assert "Could not save the view" in response.text
    assert session.scalars(select(SavedFilter)).all() == []


def test_someone_elses_saved_view_cannot_be_deleted(session, client, submitted):
    """Deleting another person's view is refused and the view stays."""
    sign_in(client, "county")
    client.post("/inbox/views", data={"name": "mine", "view": "due=week"})
    client.post("/auth/logout")
    saved = session.scalars(select(SavedFilter)).one()
    sign_in(client, "city")

    client.post(f"/inbox/views/{saved.id}/delete", data={"view": ""})

    assert session.scalars(select(SavedFilter)).all() == [saved]


def test_liaison_sees_only_their_units_task(session, client, world):
    """The hospital liaison's inbox holds the hospital's task, not the school's."""
    own = task_for(session, world.users["hospital"], "hospital")
    school = task_for(session, world.users["school"], "school")
    sign_in(client, "hospital")

    response = client.get("/inbox/")

    assert task_ids(response) == [own.id]
    assert school.id not in task_ids(response)
    assert 'data-lane="unit"' in response.text


def test_the_bell_shows_the_unread_count(session, client, submitted):
    """The header bell shows how many notifications the user has not read."""
    county = submitted.users["county"]
    unread = notifications.unread_count(session, county)
    sign_in(client, "county")

    response = client.get("/")

    assert unread > 0
    assert f'data-unread="{unread}"' in response.text
    assert 'href="/inbox/notifications"' in response.text


def test_notifications_page_lists_and_marks_read(session, client, submitted):
    """Unread notifications are highlighted; mark all read clears the bell."""
    county = submitted.users["county"]
    newest = notifications.recent(session, county)[0]
    sign_in(client, "county")

    before = client.get("/inbox/notifications")
    marked = client.post("/inbox/notifications/read", follow_redirects=True)

    assert before.status_code == 200
    assert 'class="notification notification--unread"' in before.text
    assert f'data-notification-id="{newest.id}"' in before.text
    assert f'href="/tasks/{newest.task_id}"' in before.text
    assert 'data-unread="0"' in marked.text
    assert "notification--unread" not in marked.text
    assert notifications.unread_count(session, county) == 0


def test_notifications_api_lists_and_marks_read(session, client, submitted):
    """The API lists unread notifications and marks the chosen ones read."""
    token = client.post(
        f"{API}/tokens", json={"username": "county", "password": PASSWORD}
    ).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}

    listed = client.get(f"{API}/notifications?unread=1", headers=headers).get_json()
    first = listed["items"][0]
    marked = client.post(
        f"{API}/notifications/read", json={"ids": [first["id"]]}, headers=headers
    ).get_json()
    after = client.get(f"{API}/notifications", headers=headers).get_json()
    bad = client.post(f"{API}/notifications/read", json={"ids": ["x"]}, headers=headers)
    everything = client.post(f"{API}/notifications/read", headers=headers)
    anonymous = client.get(f"{API}/notifications")

    assert listed["unread"] == len(listed["items"]) > 0
    assert set(first) == {
        "id",
        "kind",
        "title",
        "task_id",
        "instance_id",
        "created_at",
        "read_at",
    }
    assert first["read_at"] is None
    assert marked == {"marked": 1, "unread": listed["unread"] - 1}
    read = next(item for item in after["items"] if item["id"] == first["id"])
    assert read["read_at"] is not None
    assert bad.status_code == 422
    assert bad.content_type == "application/problem+json"
    assert everything.get_json()["unread"] == 0
    assert anonymous.status_code == 401
