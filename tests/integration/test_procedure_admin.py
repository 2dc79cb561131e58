"""Procedure administration: versions, validation, diffs, rollback and migration."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.models import AuditEvent, HumanTask, ProcessInstance, ProcessVersion
from app.services import cycles, lanes, procedure_drafts, procedures
from app.services.base import transaction
from processes import registry
from processes.diagram_diff import diff_diagrams
from processes.errors import Forbidden, InvalidDiagram, InvalidInput
from tests.conftest import corpus_dir
from tests.factories import make_cycle, sign_in, submit, task_for

SHIPPED = Path(__file__).resolve().parents[2] / "bpmn_diagrams"
CREATION = (SHIPPED / "creation_task.bpmn").read_bytes()


def renamed(xml: bytes, old: str, new: str) -> bytes:
    """Return the diagram with one element's name changed."""
    assert old.encode() in xml
    return xml.replace(old.encode(), new.encode(), 1)


def deploy(session, world, xml: bytes, comment: str = "changed") -> int:
    """Deploy a creation diagram as the administrator; return its version number."""
    with transaction(session):
        result = procedures.deploy(
            session, world.users["admin"], xml, "creation_task.bpmn", comment
        )
    return result.version.version


def ready_steps(session, instance_id: int) -> list[tuple[str, int | None]]:
    """Return the waiting steps of an instance with who claimed them."""
    session.expire_all()
    rows = session.execute(
        select(HumanTask.bpmn_id, HumanTask.claimed_by_id).where(
            HumanTask.instance_id == instance_id, HumanTask.state == "ready"
        )
    )
    return sorted(rows.all())


def test_versions_list_running_counts_and_the_current_one(session, world):
    """The procedure page lists each version with its running instances."""
    summary = procedures.summary(session, "creation_task")

    assert [row.version.version for row in summary.versions] == [1]
    assert summary.current.version == 1
    assert summary.running == len(world.units)


def test_deploying_needs_a_system_administrator(session, world):
    """An office administrator cannot deploy a procedure."""
    with pytest.raises(Forbidden):
        procedures.deploy(session, world.users["city"], CREATION, "x.bpmn", "")


def test_diff_names_the_changed_element_and_nothing_else(session, world):
    """Renaming the city review shows one changed element with old and new name."""
    new = renamed(CREATION, 'name="市级审核"', 'name="市级复核"')
    diff = diff_diagrams(CREATION, new)

    assert [c.element_id for c in diff.changed] == ["review_city"]
    assert "name “市级审核” → “市级复核”" in diff.changed[0].details
    assert diff.added == diff.removed == []
    assert not diff.layout_changed


def test_diff_lists_added_and_removed_elements(session, world):
    """Changing an element's id reads as one removed and one added element."""
    new = CREATION.replace(b'"review_province"', b'"review_province_2"')
    diff = diff_diagrams(CREATION, new)

    assert [c.element_id for c in diff.added] == ["review_province_2"]
    assert [c.element_id for c in diff.removed] == ["review_province"]


def test_untouched_steps_move_and_keep_their_claims(session, world):
    """Waiting instances move to a version that changed only later steps."""
    claimed = task_for(session, world.users["school"], "school")
    with transaction(session):
        claimed.claimed_by_id = world.users["school"].id
    instance_id = claimed.instance_id
    deploy(session, world, renamed(CREATION, 'name="市级审核"', 'name="市级复核"'))

    moves = procedures.migration_preview(session, "creation_task")
    assert len(moves) == len(world.units)
    assert all(move.possible for move in moves)

    report = procedures.migrate(
        session, world.users["admin"], "creation_task", [m.instance.id for m in moves]
    )
    assert report.refused == {}
    assert sorted(report.moved) == sorted(m.instance.id for m in moves)
    session.expire_all()
    moved = session.get(ProcessInstance, instance_id)
    assert moved.version.version == 2
    assert ready_steps(session, instance_id) == [
        ("submit_materials", world.users["school"].id)
    ]
    events = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "instance.migrated",
            AuditEvent.instance_id == instance_id,
        )
    ).all()
    assert [(e.detail["from_version"], e.detail["to_version"]) for e in events] == [
        (1, 2)
    ]


def test_instances_past_a_changed_step_are_refused_with_the_reason(session, world):
    """A submitted unit cannot move to a version whose submission step changed."""
    submit(session, world, "school")
    new = renamed(CREATION, 'name="单位上报材料"', 'name="单位提交材料"')
    deploy(session, world, new)

    moves = {
        m.instance.unit_id: m
        for m in procedures.migration_preview(session, "creation_task")
    }
    school = moves[world.units["school"].id]
    assert not school.possible
    assert "submit_materials (单位上报材料) has already run" in school.reasons[0]
    assert moves[world.units["bank"].id].possible

    report = procedures.migrate(
        session, world.users["admin"], "creation_task", [school.instance.id]
    )
    assert report.moved == []
    assert "cannot move to version 2" in report.refused[school.instance.id]
    session.expire_all()
    assert session.get(ProcessInstance, school.instance.id).version.version == 1


def test_rollback_deploys_the_older_diagram_as_a_new_version(session, world):
    """Rolling back to version 1 makes version 3 current with version 1's diagram."""
    deploy(session, world, renamed(CREATION, 'name="市级审核"', 'name="市级复核"'))
    with transaction(session):
        result = procedures.redeploy(
            session, world.users["admin"], "creation_task", 1, ""
        )

    assert result.version.version == 3
    assert (
        result.version.sha256
        == procedures.version_of(session, "creation_task", 1).sha256
    )
    assert registry.current_version(session, "creation_task").version == 3
    assert result.version.comment == "rolled back to version 1"


def test_validation_of_a_bad_diagram_names_the_element(session, world):
    """A user task without a form key is refused at lint, naming the task."""
    broken = CREATION.replace(b'value="review"', b'value="no_such_form"', 1)
    verdict = procedures.validate(session, broken, "creation_task.bpmn")

    assert not verdict.ok
    assert verdict.problems[0].element_id.startswith("review_")
    assert "no_such_form" in verdict.problems[0].message
    with pytest.raises(InvalidDiagram):
        deploy(session, world, broken)


def upload(client, xml: bytes, action: str, name: str = "creation_task.bpmn"):
    """Post a diagram to the upload form."""
    data = {"diagram": (io.BytesIO(xml), name), "action": action, "comment": "页面上传"}
    return client.post(
        "/admin/procedures/upload", data=data, content_type="multipart/form-data"
    )


def test_pages_are_for_system_administrators_only(app, session, world):
    """An office administrator gets 403 on every procedure page."""
    client = sign_in(app, "province")
    for path in ("/admin/procedures/", "/admin/procedures/creation_task"):
        assert client.get(path).status_code == 403
    assert upload(client, CREATION, "deploy").status_code == 403


def test_upload_checks_then_deploys_and_the_page_lists_the_version(app, session, world):
    """Check only deploys nothing; check and deploy adds version 2 with its comment."""
    client = sign_in(app, "admin")
    changed = renamed(CREATION, 'name="市级审核"', 'name="市级复核"')

    checked = upload(client, changed, "validate")
    assert checked.status_code == 200
    assert 'data-ok="true"' in checked.get_data(as_text=True)
    assert registry.current_version(session, "creation_task").version == 1

    deployed = upload(client, changed, "deploy")
    assert deployed.status_code == 302
    page = client.get("/admin/procedures/creation_task").get_data(as_text=True)
    assert 'data-version="2" data-current' in page
    assert "页面上传" in page
    download = client.get("/admin/procedures/creation_task/2.bpmn")
    assert download.data == changed


def test_upload_of_a_broken_diagram_lists_the_problem_and_deploys_nothing(
    app, session, world
):
    """A wrong form key is shown with the element id; no version is added."""
    client = sign_in(app, "admin")
    broken = CREATION.replace(b'value="review"', b'value="no_such_form"', 1)

    response = upload(client, broken, "deploy")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-element-id="review_county"' in page
    assert "no_such_form" in page
    assert registry.current_version(session, "creation_task").version == 1


def test_diff_page_lists_changes_and_migration_page_moves_instances(
    app, session, world
):
    """After a deploy the diff page names the change; migrating all moves them."""
    client = sign_in(app, "admin")
    upload(client, renamed(CREATION, 'name="市级审核"', 'name="市级复核"'), "deploy")

    diff = client.get("/admin/procedures/creation_task/diff?from=1&to=2")
    assert 'data-element-id="review_city"' in diff.get_data(as_text=True)
    preview = client.get("/admin/procedures/creation_task/migration")
    assert preview.get_data(as_text=True).count('data-possible="true"') == len(
        world.units
    )

    moved = client.post(
        "/admin/procedures/creation_task/migration", data={"scope": "all"}
    )
    assert moved.status_code == 302
    after = client.get("/admin/procedures/creation_task/migration")
    assert 'id="nothing-to-move"' in after.get_data(as_text=True)
    session.expire_all()
    versions = session.scalars(select(ProcessInstance.version_id).distinct()).all()
    assert versions == [registry.current_version(session, "creation_task").id]


def test_every_corpus_file_gets_a_verdict_and_never_a_server_error(app, session, world):
    """Each shared corpus diagram, uploaded for a check, is answered 200 or 422."""
    client = sign_in(app, "admin")
    files = sorted(corpus_dir().glob("*/*.bpmn"))
    assert len(files) >= 80
    statuses = {}
    for path in files:
        response = upload(client, path.read_bytes(), "validate", path.name)
        statuses[path.name] = response.status_code
        assert 'id="verdict"' in response.get_data(as_text=True), path
    assert set(statuses.values()) <= {200, 422}
    assert 422 in statuses.values()


def test_custom_lane_name_is_refused_until_mapped_then_routes_to_its_lane(
    session, world
):
    """A diagram's own lane name needs a mapping; its tasks then reach the county."""
    custom = CREATION.replace(
        b'<bpmn:lane id="creation_lane_county" name="county">',
        '<bpmn:lane id="creation_lane_county" name="县审核组">'.encode(),
    )
    refused = procedures.validate(session, custom, "creation_task.bpmn")
    assert not refused.ok
    assert '"县审核组" is not a lane the platform knows' in refused.problems[0].message

    with transaction(session):
        lanes.add_lane_route(session, world.users["admin"], "县审核组", "county")
    assert procedures.validate(session, custom, "creation_task.bpmn").ok
    deploy(session, world, custom)
    with transaction(session):
        cycle = make_cycle(session, world.offices["X01"], world.system, "自定义泳道")
    cycles.issue_cycle(session, cycle)
    submit(session, world, "school", cycle)

    task = task_for(session, world.users["county"], "school")
    assert (task.cycle_id, task.lane, task.form_key) == (cycle.id, "county", "review")


def test_lane_names_are_checked_and_audited(session, world):
    """Known names and unknown targets are refused; additions are audited."""
    admin = world.users["admin"]
    for name, routes_to, words in [
        ("county", "county", "knows already"),
        ("质检组", "nowhere", "choose one of"),
        ("", "county", "1 to 100 characters"),
    ]:
        with pytest.raises(InvalidInput, match=words):
            lanes.add_lane_route(session, admin, name, routes_to)
    with pytest.raises(Forbidden):
        lanes.add_lane_route(session, world.users["city"], "质检组", "city")

    with transaction(session):
        route = lanes.add_lane_route(session, admin, "质检组", "city")
    assert lanes.lane_routes(session) == {"质检组": "city"}
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_type == "lane_route")
    ).all()
    assert actions == ["lane_route.added"]
    with transaction(session):
        lanes.remove_lane_route(session, admin, route.id)
    assert lanes.lane_routes(session) == {}


def test_a_new_cycle_starts_on_the_new_version_while_running_ones_keep_theirs(
    session, world
):
    """After a deploy, old instances stay on version 1 and new ones get version 2."""
    deploy(session, world, renamed(CREATION, 'name="市级审核"', 'name="市级复核"'))
    with transaction(session):
        cycle = make_cycle(session, world.offices["X01"], world.system, "新版本周期")
    cycles.issue_cycle(session, cycle)

    session.expire_all()
    versions = dict(
        session.execute(
            select(
                ProcessInstance.cycle_id, func.max(ProcessInstance.version_id)
            ).group_by(ProcessInstance.cycle_id)
        ).all()
    )
    numbers = {
        cycle_id: session.get(ProcessVersion, version_id).version
        for cycle_id, version_id in versions.items()
    }
    assert numbers == {world.cycle.id: 1, cycle.id: 2}


@pytest.mark.parametrize(
    ("script", "words"),
    [
        ("import os", "import"),
        ("x = ().__class__", "__class__"),
        ('data = open("/etc/passwd").read()', "open"),
    ],
)
def test_upload_with_a_dangerous_script_is_refused_naming_the_task(
    app, session, world, script, words
):
    """A script that imports, walks dunders or opens files is refused at the check."""
    old = b'notify("unit", "submit_materials_reminder")'
    assert old in CREATION
    hostile = CREATION.replace(old, script.encode(), 1)
    response = upload(sign_in(app, "admin"), hostile, "deploy")

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-element-id="submit_materials_remind"' in page
    assert words in page
    assert registry.current_version(session, "creation_task").version == 1


def test_a_moved_instance_shows_the_move_in_its_timeline(app, session, world):
    """The instance page names the move and both version numbers."""
    deploy(session, world, renamed(CREATION, 'name="市级审核"', 'name="市级复核"'))
    instance_id = procedures.migration_preview(session, "creation_task")[0].instance.id
    procedures.migrate(session, world.users["admin"], "creation_task", [instance_id])

    page = sign_in(app, "admin").get(f"/instances/{instance_id}?lang=en")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Moved to another version of the procedure" in text
    assert "To version" in text


def test_a_new_procedure_starts_from_a_shipped_diagram_and_needs_its_own_id(
    session, world
):
    """A copy of a shipped diagram deploys as version 1 of a procedure of its own."""
    admin = world.users["admin"]
    state = procedure_drafts.open_editor(
        session, admin, procedure_drafts.NEW_DRAFT_KEY, "title_review"
    )
    assert state.base_version is None
    with transaction(session):
        procedure_drafts.save_draft(
            session, admin, procedure_drafts.NEW_DRAFT_KEY, state.xml
        )
    with pytest.raises(InvalidDiagram, match="exists already"):
        procedure_drafts.deploy_draft(
            session, admin, procedure_drafts.NEW_DRAFT_KEY, ""
        )
    session.rollback()

    renamed_xml = state.xml.replace(b'"title_review"', b'"title_review_city"')
    with transaction(session):
        procedure_drafts.save_draft(
            session, admin, procedure_drafts.NEW_DRAFT_KEY, renamed_xml
        )
        result = procedure_drafts.deploy_draft(
            session, admin, procedure_drafts.NEW_DRAFT_KEY, "市级称号复核"
        )
    assert (result.version.definition.process_key, result.version.version) == (
        "title_review_city",
        1,
    )
    assert registry.current_version(session, "title_review").version == 1
    reopened = procedure_drafts.open_editor(
        session, admin, procedure_drafts.NEW_DRAFT_KEY, "title_review"
    )
    assert reopened.draft_saved_at is None
