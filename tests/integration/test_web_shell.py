"""The web shell: sign-in, home page, errors, headers, languages, configuration."""

from __future__ import annotations

import os
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from sqlalchemy import select

from app import create_app
from app.config import CONFIG_VARIABLES, ConfigError, load_config
from app.extensions import db
from app.models import (
    AuditEvent,
    HumanTask,
    Office,
    ProcessDefinition,
    ProcessInstance,
    ProcessVersion,
    Unit,
    User,
)
from processes.errors import Conflict

PASSWORD = "correct horse battery"


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Remove WENMING_* variables so the machine's settings do not leak in."""
    for name in list(os.environ):
        if name.startswith("WENMING_"):
            monkeypatch.delenv(name)
    return monkeypatch


def make_app(tmp_path: Path, **overrides: object) -> Flask:
    """Build an app on a temporary SQLite file with an office, a unit and people."""
    config = {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,
        "SECRET_KEY": "a-test-secret-key-that-is-long-enough",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'wenming.db'}",
        **overrides,
    }
    app = create_app(config)
    app.add_url_rule("/conflict", view_func=raise_conflict)
    app.add_url_rule("/api/conflict", view_func=raise_conflict)
    app.add_url_rule("/crash", view_func=crash)
    with app.app_context():
        db.create_all()
        add_people_and_tasks()
    return app


def raise_conflict() -> str:
    """Fail the way a service does when someone else saved first."""
    raise Conflict("the submission was changed by someone else; reload it")


def crash() -> str:
    """Fail with an unexpected error."""
    raise RuntimeError("unexpected failure")


def add_people_and_tasks() -> None:
    """Add a county office, a unit, a liaison, a reviewer and some human tasks."""
    office = Office(name="某县文明办", code="county", level="county", path="/1/")
    db.session.add(office)
    db.session.flush()
    unit = Unit(name="县第一中学", code="school", unit_type="school", office=office)
    db.session.add(unit)
    db.session.flush()
    unit.path = f"{office.path}u{unit.id}/"

    liaison = User(username="liaison", display_name="王联络", roles=["liaison"])
    liaison.unit = unit
    reviewer = User(username="reviewer", display_name="李审核", roles=["reviewer"])
    reviewer.office = office
    for user in (liaison, reviewer):
        user.set_password(PASSWORD)
    db.session.add_all([liaison, reviewer])

    instance = add_instance(unit)
    add_task(instance, unit, "unit", "ready")
    add_task(instance, unit, "unit", "ready")
    add_task(instance, unit, "unit", "completed")
    add_task(instance, unit, "county", "ready")
    db.session.commit()


def add_instance(unit: Unit) -> ProcessInstance:
    """Add a running creation task instance for the unit."""
    definition = ProcessDefinition(process_key="creation_task", name="创建任务")
    version = ProcessVersion(
        definition=definition,
        version=1,
        filename="creation_task.bpmn",
        bpmn_xml=b"<definitions/>",
        sha256="0" * 64,
        spec_json="{}",
        serializer_version="1",
    )
    instance = ProcessInstance(
        version=version,
        business_key=f"creation:{unit.code}",
        unit_id=unit.id,
        state_json="{}",
        serializer_version="1",
    )
    db.session.add(instance)
    db.session.flush()
    return instance


def add_task(instance: ProcessInstance, unit: Unit, lane: str, state: str) -> None:
    """Add a human task of the instance in the lane."""
    number = len(instance.human_tasks) + 1
    db.session.add(
        HumanTask(
            instance=instance,
            task_uuid=f"00000000-0000-0000-0000-{number:012d}",
            bpmn_id=f"task_{number}",
            title="提交创建材料",
            lane=lane,
            form_key="unit_submission",
            office_path=unit.path,
            unit_id=unit.id,
            state=state,
        )
    )
    db.session.flush()


@pytest.fixture
def app(tmp_path: Path, clean_environment: pytest.MonkeyPatch) -> Flask:
    """An application with test data and CSRF checks off."""
    application = make_app(tmp_path)
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A browser without a session."""
    return app.test_client()


def sign_in(
    client: FlaskClient, username: str = "liaison", password: str = PASSWORD
) -> object:
    """Send the sign-in form."""
    return client.post(
        "/auth/login?lang=en", data={"username": username, "password": password}
    )


def audit_events(app: Flask, action: str) -> list[AuditEvent]:
    """Return the recorded audit events with the action, oldest first."""
    with app.app_context():
        query = select(AuditEvent).where(AuditEvent.action == action)
        return list(db.session.scalars(query.order_by(AuditEvent.id)))


def test_sign_in_opens_home_page_and_is_audited(
    app: Flask, client: FlaskClient
) -> None:
    """A liaison with the right password reaches the home page; it is recorded."""
    response = sign_in(client)

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "王联络" in client.get("/").get_data(as_text=True)
    [event] = audit_events(app, "auth.login")
    assert event.detail == {"username": "liaison", "remote_addr": "127.0.0.1"}
    assert event.actor_id is not None


def test_wrong_password_is_refused_and_audited(app: Flask, client: FlaskClient) -> None:
    """A wrong password shows a message, keeps the user out and is recorded."""
    response = sign_in(client, password="guess")

    assert "Wrong user name or password." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    [event] = audit_events(app, "auth.login_failed")
    assert event.detail["username"] == "liaison"
    assert "guess" not in str(event.detail)


def test_unknown_user_gets_the_same_message(app: Flask, client: FlaskClient) -> None:
    """Failing with an unknown user name reads exactly like a wrong password."""
    unknown = sign_in(client, username="nobody").get_data(as_text=True)
    wrong = sign_in(client, password="guess").get_data(as_text=True)

    message = "Wrong user name or password."
    assert message in unknown
    assert message in wrong
    assert len(audit_events(app, "auth.login_failed")) == 2


def test_disabled_account_cannot_sign_in(app: Flask, client: FlaskClient) -> None:
    """A disabled account is refused even with the right password."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "liaison"))
        user.active = False
        db.session.commit()

    response = sign_in(client)

    assert "This account is disabled" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_disabled_account_loses_its_session(app: Flask, client: FlaskClient) -> None:
    """Disabling a signed-in user ends their access on the next request."""
    sign_in(client)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "liaison"))
        user.active = False
        db.session.commit()

    assert client.get("/").status_code == 302


def test_sign_out_ends_session_and_is_audited(app: Flask, client: FlaskClient) -> None:
    """Signing out sends the user to the sign-in page and records it."""
    sign_in(client)

    response = client.post("/auth/logout", follow_redirects=True)

    assert "You have signed out." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    [event] = audit_events(app, "auth.logout")
    assert event.detail["username"] == "liaison"


def test_sign_out_needs_a_post(client: FlaskClient) -> None:
    """A link or image cannot sign a user out: GET is not allowed."""
    sign_in(client)

    assert client.get("/auth/logout").status_code == 405
    assert client.get("/").status_code == 200


def test_home_page_counts_the_liaisons_open_tasks(client: FlaskClient) -> None:
    """The liaison sees the two ready tasks of the unit lane, not the others."""
    sign_in(client)

    page = client.get("/").get_data(as_text=True)

    assert "2 tasks are waiting for you." in page
    assert "Unit liaison" in page
    assert "县第一中学" in page


def test_home_page_counts_the_reviewers_open_tasks(client: FlaskClient) -> None:
    """The county reviewer sees the one ready task of the county lane."""
    sign_in(client, username="reviewer")

    page = client.get("/").get_data(as_text=True)

    assert "1 task is waiting for you." in page
    assert "某县文明办" in page


def test_anonymous_visitor_is_sent_to_sign_in(client: FlaskClient) -> None:
    """The home page asks an anonymous visitor to sign in and comes back after."""
    response = client.get("/?tab=mine")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=")
    follow = client.post(
        response.headers["Location"],
        data={"username": "liaison", "password": PASSWORD},
    )
    assert follow.headers["Location"] == "/?tab=mine"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example"]
)
def test_sign_in_never_redirects_off_site(client: FlaskClient, target: str) -> None:
    """A `next` pointing to another site is ignored after sign-in."""
    response = client.post(
        "/auth/login",
        query_string={"next": target},
        data={"username": "liaison", "password": PASSWORD},
    )

    assert response.headers["Location"] == "/"


def test_missing_page_is_an_html_page(client: FlaskClient) -> None:
    """A browser asking for a missing page gets the error page in Chinese."""
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "页面不存在" in response.get_data(as_text=True)


def test_missing_api_resource_is_problem_json(client: FlaskClient) -> None:
    """A missing resource under /api/ is answered as application/problem+json."""
    response = client.get("/api/no-such-thing")

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 404
    assert response.json["title"] == "Not Found"


def test_platform_error_keeps_its_status_and_message(client: FlaskClient) -> None:
    """A service's Conflict becomes a 409 page and a 409 problem document."""
    page = client.get("/conflict")
    problem = client.get("/api/conflict")

    assert page.status_code == 409
    assert "the submission was changed by someone else" in page.get_data(as_text=True)
    assert problem.status_code == 409
    assert problem.json["detail"] == (
        "the submission was changed by someone else; reload it"
    )


def test_json_clients_get_problem_json_anywhere(client: FlaskClient) -> None:
    """A client that prefers JSON gets a problem document outside /api/ too."""
    response = client.get("/conflict", headers={"Accept": "application/json"})

    assert response.mimetype == "application/problem+json"
    assert response.json["title"] == "Conflict"


def test_unexpected_failure_shows_the_500_page(app: Flask, client: FlaskClient) -> None:
    """An unexpected exception gives the user the 500 page, not a traceback."""
    app.config["PROPAGATE_EXCEPTIONS"] = False

    response = client.get("/crash")

    assert response.status_code == 500
    assert "系统出现错误" in response.get_data(as_text=True)
    assert "unexpected failure" not in response.get_data(as_text=True)


def test_sign_in_without_csrf_token_is_refused(
    tmp_path: Path, clean_environment: pytest.MonkeyPatch
) -> None:
    """With CSRF checks on, a sign-in form without its token is rejected."""
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    client = app.test_client()

    refused = client.post(
        "/auth/login", data={"username": "liaison", "password": PASSWORD}
    )
    form = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)[1]
    accepted = client.post(
        "/auth/login",
        data={"username": "liaison", "password": PASSWORD, "csrf_token": token},
    )

    assert refused.status_code == 400
    assert "安全令牌" in refused.get_data(as_text=True)
    assert accepted.status_code == 302
    assert audit_events(app, "auth.login")


def test_five_failures_lock_sign_in_for_fifteen_minutes(
    app: Flask, client: FlaskClient, time_machine
) -> None:
    """After five wrong passwords even the right one is refused for 15 minutes."""
    time_machine.move_to(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), tick=False)
    for _attempt in range(5):
        sign_in(client, password="guess")

    locked = sign_in(client)
    time_machine.shift(timedelta(minutes=16))
    reopened = sign_in(client)

    assert "Too many failed sign-in attempts" in locked.get_data(as_text=True)
    assert "15 minutes" in locked.get_data(as_text=True)
    assert reopened.status_code == 302
    refusals = audit_events(app, "auth.login_failed")
    assert [e.detail["reason"] for e in refusals][-1] == "rate_limited"


def test_lock_applies_to_one_user_name_only(client: FlaskClient) -> None:
    """Failures for one user name do not lock another user out."""
    for _attempt in range(5):
        sign_in(client, password="guess")

    assert sign_in(client, username="reviewer").status_code == 302


def test_every_response_carries_security_headers(client: FlaskClient) -> None:
    """Pages, errors and health checks all carry the browser hardening headers."""
    for path in ("/auth/login", "/no-such-page", "/healthz"):
        headers = client.get(path).headers

        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "unsafe-inline" not in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"


def test_session_cookie_is_http_only_and_same_site(client: FlaskClient) -> None:
    """The session cookie cannot be read by scripts nor sent cross-site."""
    sign_in(client)

    cookie = client.get_cookie("session")

    assert cookie.http_only
    assert cookie.same_site == "Lax"


def test_interface_is_chinese_by_default(client: FlaskClient) -> None:
    """Without any preference the sign-in page is in Simplified Chinese."""
    page = client.get("/auth/login").get_data(as_text=True)

    assert "<h1>登录</h1>" in page
    assert 'lang="zh-Hans"' in page


def test_language_switch_to_english_is_remembered(client: FlaskClient) -> None:
    """Choosing English with ?lang=en keeps English on the next pages."""
    chosen = client.get("/auth/login?lang=en").get_data(as_text=True)
    later = client.get("/auth/login").get_data(as_text=True)

    assert "<h1>Sign in</h1>" in chosen
    assert "<h1>Sign in</h1>" in later
    assert 'href="/auth/login?lang=zh_Hans"' in later


def test_browser_language_is_used_without_a_choice(client: FlaskClient) -> None:
    """A browser asking for English gets English; one asking for zh-CN, Chinese."""
    english = client.get("/auth/login", headers={"Accept-Language": "en-US,en;q=0.8"})
    chinese = client.get("/auth/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})

    assert "<h1>Sign in</h1>" in english.get_data(as_text=True)
    assert "<h1>登录</h1>" in chinese.get_data(as_text=True)


def test_users_own_language_applies_after_sign_in(
    app: Flask, client: FlaskClient
) -> None:
    """A user whose account prefers English sees English once signed in."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "reviewer"))
        user.locale = "en"
        db.session.commit()

    client.post("/auth/login", data={"username": "reviewer", "password": PASSWORD})

    assert "tasks" in client.get("/").get_data(as_text=True)


def test_times_are_shown_in_the_configured_zone(app: Flask) -> None:
    """A UTC time is shown in Asia/Shanghai, eight hours ahead."""
    noon_utc = datetime(2026, 10, 31, 16, 30, tzinfo=UTC)

    with app.test_request_context():
        shown = render_template_string("{{ at | localtime }}", at=noon_utc)

    assert shown == "2026-11-01 00:30"


def test_health_check_reports_database(client: FlaskClient) -> None:
    """The health check answers JSON after reaching the database."""
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_bad_time_zone_stops_start_up(
    tmp_path: Path, clean_environment: pytest.MonkeyPatch
) -> None:
    """A misspelt WENMING_TIMEZONE stops start-up with a message naming it."""
    clean_environment.setenv("WENMING_TIMEZONE", "Asia/Shanghia")

    with pytest.raises(ConfigError) as caught:
        create_app({"INSTANCE_PATH": str(tmp_path)})

    assert "WENMING_TIMEZONE" in str(caught.value)
    assert "Asia/Shanghia" in str(caught.value)


def test_production_without_secret_key_stops_start_up(
    tmp_path: Path, clean_environment: pytest.MonkeyPatch
) -> None:
    """Production refuses to start without WENMING_SECRET_KEY and says how to set it."""
    clean_environment.setenv("WENMING_ENV", "production")

    with pytest.raises(ConfigError) as caught:
        create_app({"INSTANCE_PATH": str(tmp_path)})

    assert "WENMING_SECRET_KEY" in str(caught.value)
    assert "token_hex" in str(caught.value)


def test_wrong_choice_names_the_allowed_values(tmp_path: Path) -> None:
    """An unknown WENMING_SCHEDULER value is reported with the allowed ones."""
    with pytest.raises(ConfigError, match="WENMING_SCHEDULER.*in_process, off"):
        load_config(tmp_path, {"WENMING_SCHEDULER": "always"})


def test_development_secret_key_is_kept_private(tmp_path: Path) -> None:
    """Development generates one secret key, stored readable by its owner only."""
    first = load_config(tmp_path, {})["SECRET_KEY"]
    second = load_config(tmp_path, {})["SECRET_KEY"]

    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert first == second
    assert mode == 0o600


def test_production_settings(tmp_path: Path) -> None:
    """Production uses psycopg for PostgreSQL, secure cookies and no scheduler."""
    config = load_config(
        tmp_path,
        {
            "WENMING_ENV": "production",
            "WENMING_SECRET_KEY": "k" * 40,
            "WENMING_DATABASE_URL": "postgresql://wenming:pw@db/wenming",
        },
    )

    assert (
        config["SQLALCHEMY_DATABASE_URI"]
        == "postgresql+psycopg://wenming:pw@db/wenming"
    )
    assert config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["WENMING_SCHEDULER"] == "off"
    assert config["WENMING_TIMER_WORKERS"] == min(4, os.cpu_count() or 1)


def test_timer_workers_are_a_count_the_scheduler_can_start(tmp_path: Path) -> None:
    """Development fires timers in the scheduler; a wrong worker count is refused."""
    assert load_config(tmp_path, {})["WENMING_TIMER_WORKERS"] == 0
    assert (
        load_config(tmp_path, {"WENMING_TIMER_WORKERS": "3"})["WENMING_TIMER_WORKERS"]
        == 3
    )
    with pytest.raises(ConfigError, match="WENMING_TIMER_WORKERS is 'many'"):
        load_config(tmp_path, {"WENMING_TIMER_WORKERS": "many"})


def test_every_variable_is_documented(tmp_path: Path) -> None:
    """Each WENMING_* variable the configuration reads is listed with a meaning."""
    documented = {name for name, _default, meaning in CONFIG_VARIABLES if meaning}
    config = load_config(tmp_path, {})

    read = {key for key in config if key.startswith("WENMING_")}
    assert read <= documented
    assert {"WENMING_DATABASE_URL", "WENMING_SECRET_KEY"} <= documented
