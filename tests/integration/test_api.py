"""The JSON API through the test client: tokens, the inbox, completing, timelines."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.models import ApiToken, AuditEvent, utcnow
from app.services import tokens
from tests.factories import PASSWORD, review, review_data, submit, task_for

API = "/api/v1"
PROBLEM = "application/problem+json"


def issue(client, username: str, password: str = PASSWORD, **more):
    """Ask for a token with the given credentials."""
    body = {"username": username, "password": password, **more}
    return client.post(f"{API}/tokens", json=body)


def bearer(client, username: str) -> dict:
    """Return request headers carrying a fresh token of the user."""
    token = issue(client, username).get_json()["token"]
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response, status: int) -> dict:
    """Check the response is a problem document with the status; return it."""
    assert response.status_code == status
    assert response.content_type == PROBLEM
    problem = response.get_json()
    assert problem["status"] == status
    assert problem["detail"]
    return problem


def test_token_is_issued_listed_and_revoked(session, client, world):
    """A token opens the API until its owner revokes it; then it gets 401."""
    issued = issue(client, "county", name="表格同步")
    body = issued.get_json()
    headers = {"Authorization": f"Bearer {body['token']}"}

    listed = client.get(f"{API}/tokens", headers=headers).get_json()["items"]
    before = client.get(f"{API}/tasks", headers=headers)
    revoked = client.delete(f"{API}/tokens/{body['id']}", headers=headers)
    after = client.get(f"{API}/tasks", headers=headers)

    assert issued.status_code == 201
    assert body["prefix"] == body["token"][:8]
    assert [(t["id"], t["name"], t["prefix"]) for t in listed] == [
        (body["id"], "表格同步", body["prefix"])
    ]
    assert "token" not in listed[0]
    assert before.status_code == 200
    assert revoked.status_code == 204
    assert_problem(after, 401)
    assert after.headers["WWW-Authenticate"].startswith("Bearer")
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("api_token.%"))
    ).all()
    assert sorted(actions) == ["api_token.issued", "api_token.revoked"]


def test_only_the_hash_of_a_token_is_stored(session, client, world):
    """The database holds the token's hash and prefix, never the token."""
    token = issue(client, "county").get_json()["token"]

    stored = session.scalars(select(ApiToken)).one()

    assert stored.token_hash == tokens.hash_token(token)
    assert token not in (stored.token_hash, stored.name)


def test_wrong_password_is_refused_and_counted(session, client, world):
    """Wrong credentials get a 401 problem and count as a failed sign-in."""
    response = issue(client, "county", "not-the-password")

    assert_problem(response, 401)
    failures = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.login_failed")
    ).all()
    assert [f.detail["username"] for f in failures] == ["county"]


def test_repeated_failures_lock_the_token_endpoint(client, world):
    """After five wrong passwords even the right one is refused for a while."""
    for _ in range(5):
        issue(client, "county", "wrong")

    response = issue(client, "county")

    assert "too many" in assert_problem(response, 401)["detail"]


def test_a_disabled_users_token_stops_working(session, client, world):
    """Disabling an account closes the API to its existing tokens."""
    headers = bearer(client, "county")
    world.users["county"].active = False
    session.commit()

    assert_problem(client.get(f"{API}/tasks", headers=headers), 401)


def test_last_use_is_recorded_at_most_once_a_minute(session, client, world):
    """Checking a token notes its use, but not again within the same minute."""
    token = issue(client, "county").get_json()["token"]
    start = utcnow()

    tokens.authenticate(session, token, now=start)
    tokens.authenticate(session, token, now=start + timedelta(seconds=30))
    first = session.scalars(select(ApiToken)).one().last_used_at
    tokens.authenticate(session, token, now=start + timedelta(seconds=61))
    later = session.scalars(select(ApiToken)).one().last_used_at

    assert first == start
    assert later == start + timedelta(seconds=61)
    assert tokens.authenticate(session, token + "x") is None


def test_someone_elses_token_cannot_be_revoked(client, world):
    """Revoking another user's token answers 404 and leaves it working."""
    theirs = issue(client, "city").get_json()
    mine = bearer(client, "county")

    refused = client.delete(f"{API}/tokens/{theirs['id']}", headers=mine)
    still = client.get(
        f"{API}/tasks", headers={"Authorization": f"Bearer {theirs['token']}"}
    )

    assert_problem(refused, 404)
    assert still.status_code == 200


def test_the_session_cookie_opens_nothing(client, world):
    """A signed-in browser without a bearer token is answered 401."""
    client.post("/auth/login", data={"username": "county", "password": PASSWORD})

    response = client.get(f"{API}/tasks")

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_malformed_json_is_a_clear_400(client, world):
    """A body that is not JSON, or not an object, is refused with the reason."""
    broken = client.post(
        f"{API}/tokens", data="{username:", content_type="application/json"
    )
    listed = client.post(f"{API}/tokens", json=["county", PASSWORD])

    assert "not valid JSON" in assert_problem(broken, 400)["detail"]
    assert "JSON object" in assert_problem(listed, 400)["detail"]


def test_bad_filters_are_named(client, world):
    """Invalid inbox parameters answer 422 with an error per parameter."""
    headers = bearer(client, "county")

    response = client.get(f"{API}/tasks?per_page=500&sort=x", headers=headers)

    assert set(assert_problem(response, 422)["errors"]) == {"per_page", "sort"}


def test_review_through_the_api(session, client, world):
    """The county lists, claims and completes a review; errors come as promised."""
    submit(session, world, "hospital")
    county = bearer(client, "county")

    page = client.get(f"{API}/tasks?q=医院", headers=county).get_json()
    item = page["items"][0]
    task_url = f"{API}/tasks/{item['id']}"
    detail = client.get(task_url, headers=county).get_json()
    claimed = client.post(f"{task_url}/claim", headers=county).get_json()

    assert page["total"] == 1
    assert page["counts"]["level"] == {"county": 1}
    assert item["unit"]["name"] == "县人民医院"
    assert item["cycle"]["id"] == world.cycle.id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", item["due_at"])
    assert detail["form"]["key"] == "review"
    assert {f["name"] for f in detail["form"]["fields"]} >= {"decision", "scores"}
    indicators = {i["code"]: i for i in detail["form"]["indicators"]}
    assert indicators["A1"]["evidence"]["min_photos"] == 2
    assert indicators["D1"]["office_only"] is True
    assert claimed["claimed_by"]["display_name"] == "county"

    version = detail["lock_version"]
    data = review_data(world.system, "approve")
    other_county = client.post(
        f"{task_url}/complete", json={"data": data}, headers=bearer(client, "county2")
    )
    liaison = client.post(
        f"{task_url}/complete", json={"data": data}, headers=bearer(client, "hospital")
    )
    bad_scores = client.post(
        f"{task_url}/complete",
        json={"data": {**data, "scores": {**data["scores"], "A1": 99, "B1": "x"}}},
        headers=county,
    )
    stale = client.post(
        f"{task_url}/complete",
        json={"data": data, "expected_version": version + 1},
        headers=county,
    )
    done = client.post(
        f"{task_url}/complete",
        json={"data": data, "expected_version": version},
        headers=county,
    )
    again = client.post(f"{task_url}/complete", json={"data": data}, headers=county)

    assert_problem(other_county, 404)
    assert_problem(liaison, 403)
    errors = assert_problem(bad_scores, 422)["errors"]
    assert set(errors) == {"scores.A1", "scores.B1"}
    assert_problem(stale, 409)
    assert done.status_code == 200
    step = done.get_json()
    assert step["status"] == "running"
    assert [(t["lane"], t["form_key"]) for t in step["ready_tasks"]] == [
        ("city", "review")
    ]
    assert_problem(again, 409)


def test_instance_timeline(session, client, world):
    """An instance shows its process, waiting task and audit timeline in order."""
    submit(session, world, "school")
    county_user = world.users["county"]
    instance_id = task_for(session, county_user, "school").instance_id
    review(session, world, "county", "school", "approve")
    url = f"{API}/instances/{instance_id}"

    shown = client.get(url, headers=bearer(client, "county")).get_json()
    hidden = client.get(url, headers=bearer(client, "county2"))

    assert shown["process"]["key"] == "creation_task"
    assert shown["unit"]["name"] == "县第一中学"
    assert shown["status"] == "completed"
    actions = [entry["action"] for entry in shown["timeline"]]
    assert actions[0] == "instance.started"
    assert "review.recorded" in actions
    assert actions.index("evidence.uploaded") < actions.index("review.recorded")
    reviewed = next(e for e in shown["timeline"] if e["action"] == "review.recorded")
    assert reviewed["actor"] == {"id": county_user.id, "display_name": "county"}
    assert reviewed["detail"]["decision"] == "approve"
    assert shown["timeline"] == sorted(shown["timeline"], key=lambda e: e["at"])
    assert_problem(hidden, 404)


def test_rectification_task_shows_its_order(session, client, world):
    """A unit's rectification task describes the items it must answer."""
    submit(session, world, "school")
    review(session, world, "county", "school", "rectify")
    school = bearer(client, "school")

    item = client.get(f"{API}/tasks", headers=school).get_json()["items"][0]
    form = client.get(f"{API}/tasks/{item['id']}", headers=school).get_json()["form"]

    assert form["key"] == "rectification"
    assert [i["indicator"] for i in form["order"]["items"]] == ["B4"]
    assert form["order"]["level"] == "county"
    assert form["order"]["due_at"] > utcnow().isoformat()


def test_openapi_describes_every_route(app, client):
    """Each route of the API, with each of its methods, is in the document."""
    document = client.get(f"{API}/openapi.json").get_json()
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            path = path.removeprefix(API)
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}

    described = {
        (path, method)
        for path, operations in document["paths"].items()
        for method in operations
    }

    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert routes == described
    for path, operations in document["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for operation in operations.values():
            given = {p["name"] for p in operation.get("parameters", [])}
            assert names <= given, path
            assert operation["responses"]


@pytest.mark.parametrize("method", ["get", "post"])
def test_unknown_api_path_is_problem_json(client, method):
    """A path the API does not have answers 404 as a problem document."""
    response = getattr(client, method)(f"{API}/nothing-here")

    assert_problem(response, 404)
