"""The instance page (diagram, timeline, materials) and the profile page (tokens)."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from app.models import ApiToken, ProcessInstance
from app.services import instance_pages
from app.services.tokens import hash_token
from tests.factories import PASSWORD, rectify, review, submit, verify


def instance_of(session, world, unit_code: str) -> ProcessInstance:
    """Return the unit's creation-task instance of the world's cycle."""
    return session.scalars(
        select(ProcessInstance).where(
            ProcessInstance.unit_id == world.units[unit_code].id,
            ProcessInstance.cycle_id == world.cycle.id,
        )
    ).one()


def sign_in(client, username: str) -> None:
    """Sign in through the login form, in English."""
    response = client.post(
        "/auth/login?lang=en", data={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 302


def data_ids(html: str, name: str) -> list[str]:
    """Return the JSON list held in a data attribute of the diagram container."""
    match = re.search(rf'data-{name}="([^"]*)"', html)
    assert match, f"no data-{name} attribute"
    return json.loads(match.group(1).replace("&#34;", '"').replace("&quot;", '"'))


def test_reviewer_sees_timeline_scores_and_diagram_state(client, session, world):
    """After submission and county review, the city sees the steps and the scores."""
    submit(session, world, "hospital")
    review(session, world, "county", "hospital", "approve", opinion="材料齐全")
    instance = instance_of(session, world, "hospital")
    sign_in(client, "city")

    response = client.get(f"/instances/{instance.id}?lang=en")
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert 'data-action="instance.started"' in html
    assert 'data-action="review.recorded"' in html
    assert "Review recorded" in html
    assert "材料齐全" in html
    assert 'data-level="county"' in html
    assert "/tasks/evidence/" in html
    assert f'data-diagram-url="/instances/{instance.id}/diagram.xml"' in html
    assert "submit_materials" in data_ids(html, "completed")
    assert "review_county" in data_ids(html, "completed")
    assert data_ids(html, "current") == ["review_city"]


def test_diagram_state_marks_called_rectification_as_current(session, world):
    """While the unit rectifies, the call activity is the current step."""
    submit(session, world, "hospital")
    review(session, world, "county", "hospital", "rectify")
    instance = instance_of(session, world, "hospital")

    state = instance_pages.diagram_state(session, instance.id)

    assert state.current == ["rectification_county"]
    assert "review_county" in state.completed
    assert "rectify" not in state.completed
    assert "rectification_county" not in state.completed


def test_rectification_order_and_response_are_shown(client, session, world):
    """The rectification order's items and the unit's responses appear on the page."""
    submit(session, world, "hospital")
    review(session, world, "county", "hospital", "rectify")
    rectify(session, world, "hospital")
    verify(session, world, "county", "hospital", "passed")
    instance = instance_of(session, world, "hospital")
    sign_in(client, "county")

    html = client.get(f"/instances/{instance.id}?lang=en").get_data(as_text=True)

    assert 'id="rectification"' in html
    assert "已整改，补充了照片" in html
    assert 'data-action="rectification.verified"' in html
    completed = data_ids(html, "completed")
    assert "rectification_county" in completed


def test_finished_instance_shows_archive(client, session, world):
    """A school approved by the county is archived with its final score and grade."""
    submit(session, world, "school")
    review(session, world, "county", "school", "approve")
    instance = instance_of(session, world, "school")
    sign_in(client, "school")

    html = client.get(f"/instances/{instance.id}?lang=en").get_data(as_text=True)

    assert 'id="archive"' in html
    assert 'data-action="instance.archived"' in html
    assert "Finished" in html
    assert data_ids(html, "current") == []
    assert "archive" in data_ids(html, "completed")


def test_instance_outside_scope_is_not_found(client, session, world):
    """Another county's reviewer and another unit get 404 for page and diagram."""
    instance = instance_of(session, world, "hospital")

    for username in ("county2", "school"):
        client.post("/auth/logout")
        sign_in(client, username)
        assert client.get(f"/instances/{instance.id}").status_code == 404
        assert client.get(f"/instances/{instance.id}/diagram.xml").status_code == 404
    assert client.get("/instances/999999").status_code == 404


def test_diagram_xml_is_the_stored_version(client, session, world):
    """The diagram URL serves the version's BPMN XML as application/xml."""
    instance = instance_of(session, world, "hospital")
    sign_in(client, "hospital")

    response = client.get(f"/instances/{instance.id}/diagram.xml")

    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    assert b'id="creation_task"' in response.data
    assert b"review_city" in response.data


def test_profile_creates_token_once_and_revokes_it(client, session, world):
    """A token is shown once after the password check, stored hashed, then revoked."""
    sign_in(client, "county")

    refused = client.post(
        "/auth/profile/tokens?lang=en", data={"name": "报表", "password": "wrong"}
    )
    assert refused.status_code == 400
    assert session.scalars(select(ApiToken)).all() == []

    created = client.post(
        "/auth/profile/tokens?lang=en", data={"name": "报表", "password": PASSWORD}
    )
    html = created.get_data(as_text=True)
    token = re.search(r'class="new-token__value">([^<]+)<', html).group(1)
    record = session.scalars(select(ApiToken)).one()
    assert created.status_code == 200
    assert record.token_hash == hash_token(token)
    assert token not in record.token_hash
    assert record.name == "报表"

    later = client.get("/auth/profile?lang=en").get_data(as_text=True)
    assert token not in later
    assert record.prefix in later
    assert "county" in later

    revoked = client.post(f"/auth/profile/tokens/{record.id}/revoke")
    session.expire_all()
    assert revoked.status_code == 302
    assert session.get(ApiToken, record.id).revoked_at is not None


def test_cannot_revoke_another_users_token(client, session, world):
    """Revoking someone else's token answers 404 and leaves it active."""
    sign_in(client, "county")
    client.post("/auth/profile/tokens", data={"name": "a", "password": PASSWORD})
    record = session.scalars(select(ApiToken)).one()
    client.post("/auth/logout")
    sign_in(client, "city")

    response = client.post(f"/auth/profile/tokens/{record.id}/revoke")

    session.expire_all()
    assert response.status_code == 404
    assert session.get(ApiToken, record.id).revoked_at is None
