"""Browser flow: the administrator edits the creation diagram, checks and deploys it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import (
    Cycle,
    HumanTask,
    ProcedureDraft,
    ProcessDefinition,
    ProcessInstance,
    ProcessVersion,
)
from processes import engine, runner
from tests.e2e.conftest import assert_clean, screenshot, sign_in

pytestmark = pytest.mark.browser

EDITOR = "/admin/procedures/creation_task/edit?lang=en"


def current_version(live_app) -> tuple[int, str]:
    """Return the creation procedure's current version number and comment."""
    with live_app.app_context():
        version = db.session.scalars(
            select(ProcessVersion)
            .join(ProcessDefinition)
            .where(ProcessDefinition.process_key == "creation_task")
            .where(ProcessVersion.is_current.is_(True))
        ).one()
        found = (version.version, version.comment)
        db.session.remove()
    return found


def drafts(live_app) -> int:
    """Return how many procedure drafts are kept."""
    with live_app.app_context():
        count = len(db.session.scalars(select(ProcedureDraft.id)).all())
        db.session.remove()
    return count


def open_editor(page, live_server: str) -> None:
    """Open the creation diagram in the editor and wait until it is drawn."""
    page.goto(f"{live_server}{EDITOR}")
    page.wait_for_selector("#editor[data-ready='true']")


def test_missing_form_key_is_marked_fixed_and_deployed(
    page, page_log, live_server, live_app, demo_password
):
    """Clear a form key, see it marked at the element, restore it, deploy."""
    before, _ = current_version(live_app)
    sign_in(page, live_server, "admin", demo_password)
    open_editor(page, live_server)

    page.click("g[data-element-id='review_province']")
    assert page.input_value("#prop-form") == "review"
    page.select_option("#prop-form", "")
    page.click("#check-button")
    problem = page.locator("#problem-list li[data-element-id='review_province']")
    problem.wait_for()
    assert "form" in problem.inner_text()
    assert page.locator("g.has-problem[data-element-id='review_province']").count()
    screenshot(page, "procedure-editor-problem")

    problem.click()
    assert page.inner_text("#panel-element").endswith("review_province")
    page.select_option("#prop-form", "review")
    page.click("#check-button")
    page.wait_for_selector("#editor[data-checked='ok']")
    assert page.locator("g.has-problem").count() == 0

    page.fill("#deploy-comment", "省级审核表单核对")
    page.click("#deploy-button")
    page.wait_for_url("**/admin/procedures/creation_task")
    assert current_version(live_app) == (before + 1, "省级审核表单核对")
    assert drafts(live_app) == 0
    assert_clean(page_log)


def test_draft_is_kept_when_the_page_is_closed_and_restored(
    page, page_log, live_server, live_app, demo_password, browser
):
    """A renamed step is saved as a draft; a new page opens the draft again."""
    sign_in(page, live_server, "admin", demo_password)
    open_editor(page, live_server)
    page.click("g[data-element-id='review_city']")
    page.fill("#prop-name", "市级复核（草稿）")
    page.press("#prop-name", "Tab")
    page.locator("#editor-status", has_text="Draft saved").wait_for()
    cookies = page.context.cookies()
    page.context.close()

    context = browser.new_context(locale="en-US")
    context.add_cookies(cookies)
    reopened = context.new_page()
    open_editor(reopened, live_server)
    assert "is open again" in reopened.inner_text("#editor-status")
    reopened.click("g[data-element-id='review_city']")
    assert reopened.input_value("#prop-name") == "市级复核（草稿）"

    reopened.once("dialog", lambda dialog: dialog.accept())
    with reopened.expect_navigation():
        reopened.click("#discard-button")
    reopened.wait_for_selector("#editor[data-ready='true']")
    assert drafts(live_app) == 0
    context.close()
    assert_clean(page_log)


ADD_PROVINCE_RECHECK = """
() => {
  const modeler = window.wenmingEditor.modeler;
  const modeling = modeler.get("modeling");
  const registry = modeler.get("elementRegistry");
  const review = registry.get("review_province");
  const onward = review.outgoing.find((flow) => flow.target.id === "province_decision");
  const recheck = modeling.appendShape(
    review, { type: "bpmn:UserTask" }, { x: 2600, y: 2360 }, review.parent
  );
  modeling.updateLabel(recheck, "省级复核");
  modeling.reconnectStart(onward, recheck, { x: 2650, y: 2360 });
  const timer = modeling.createShape(
    { type: "bpmn:BoundaryEvent", eventDefinitionType: "bpmn:TimerEventDefinition" },
    { x: 2640, y: 2400 }, recheck, { attach: true }
  );
  modeling.updateProperties(timer, { cancelActivity: false });
  const remind = modeling.appendShape(
    timer, { type: "bpmn:ScriptTask" }, { x: 2640, y: 2440 }, review.parent
  );
  modeling.updateLabel(remind, "提醒省级复核");
  const end = { x: 2760, y: 2440 };
  modeling.appendShape(remind, { type: "bpmn:EndEvent" }, end, review.parent);
  return { recheck: recheck.id, timer: timer.id, remind: remind.id };
}
"""


SELECT = """
(id) => {
  const modeler = window.wenmingEditor.modeler;
  modeler.get("selection").select(modeler.get("elementRegistry").get(id));
}
"""


DEMO_CYCLE = "2026年度文明单位创建任务"


def open_school_cycle(page, live_server: str, name: str) -> None:
    """Open a county cycle for the demo school through the cycle pages."""
    page.goto(f"{live_server}/cycles/new?lang=en")
    page.fill("#name", name)
    page.select_option("#office_id", label="某县文明办")
    for field, when in (
        ("submission_due", "2027-10-31T18:00"),
        ("county_review_due", "2027-11-15T18:00"),
        ("city_review_due", "2027-11-25T18:00"),
        ("province_review_due", "2027-11-30T18:00"),
    ):
        page.fill(f"#{field}", when)
    page.check("#unit-types input[value='school']")
    page.click("#open-submit")
    page.wait_for_selector("#issuance[data-finished='true']")


def versions_in_cycle(live_app, cycle_name: str) -> set[int]:
    """Return the procedure version numbers the cycle's instances run on."""
    with live_app.app_context():
        numbers = set(
            db.session.scalars(
                select(ProcessVersion.version)
                .join(ProcessInstance, ProcessInstance.version_id == ProcessVersion.id)
                .join(Cycle, Cycle.id == ProcessInstance.cycle_id)
                .where(Cycle.name == cycle_name)
            )
        )
        db.session.remove()
    return numbers


def ready_steps_match_the_engine(live_app, instance_id: int) -> tuple[bool, int]:
    """Tell whether an instance's inbox rows are its waiting tasks; give its version."""
    with live_app.app_context():
        instance = runner.load_instance(db.session, instance_id)
        workflow = runner.load_workflow(db.session, instance)
        waiting = {str(t.id) for t in engine.ready_user_tasks(workflow)}
        rows = set(
            db.session.scalars(
                select(HumanTask.task_uuid).where(
                    HumanTask.instance_id == instance_id, HumanTask.state == "ready"
                )
            )
        )
        version = db.session.get(ProcessInstance, instance_id).version.version
        db.session.remove()
    return waiting == rows and bool(rows), version


def test_province_recheck_step_is_added_checked_run_deployed_and_migrated(
    page, page_log, live_server, live_app, demo_password
):
    """Add a step with a timer, fix its form, test-run, deploy, move one instance."""
    before, _ = current_version(live_app)
    sign_in(page, live_server, "admin", demo_password)
    open_editor(page, live_server)
    added = page.evaluate(ADD_PROVINCE_RECHECK)

    # The new elements are small at this zoom; select them as a click on each would.
    page.evaluate(SELECT, added["timer"])
    page.fill("#prop-timer", '"P3D"')
    page.press("#prop-timer", "Tab")
    page.evaluate(SELECT, added["remind"])
    page.fill("#prop-script", "import os")
    page.press("#prop-script", "Tab")
    refusal = page.locator("#prop-script-problem")
    refusal.filter(has_text="import").wait_for()
    page.fill("#prop-script", 'notify("province", "review_province_recheck_reminder")')
    page.press("#prop-script", "Tab")
    page.locator("#prop-script[aria-invalid='false']").wait_for()
    page.click("#check-button")
    problem = page.locator(f"#problem-list li[data-element-id='{added['recheck']}']")
    problem.wait_for()
    assert "form" in problem.inner_text()
    screenshot(page, "procedure-editor-new-step")

    problem.click()
    page.select_option("#prop-form", "review")
    page.click("#check-button")
    page.wait_for_selector("#editor[data-checked='ok']")

    page.select_option("#trial-path", "approve")
    page.click("#trial-button")
    page.wait_for_selector("#trial[data-outcome='finished']")
    assert "省级复核" in page.inner_text("#trial-steps")
    assert page.locator(
        f"g.trial-completed[data-element-id='{added['recheck']}']"
    ).count()
    screenshot(page, "procedure-editor-trial")

    page.fill("#deploy-comment", "增加省级复核")
    page.click("#deploy-button")
    page.wait_for_url("**/admin/procedures/creation_task")
    assert current_version(live_app) == (before + 1, "增加省级复核")

    open_school_cycle(page, live_server, "省级复核版本试点")
    assert versions_in_cycle(live_app, "省级复核版本试点") == {before + 1}
    assert max(versions_in_cycle(live_app, DEMO_CYCLE)) <= before

    page.goto(
        f"{live_server}/admin/procedures/creation_task/diff"
        f"?from={before}&to={before + 1}"
    )
    page.wait_for_selector("#newer-diagram[data-drawn='true']")
    added_here = page.locator(
        f"#newer-diagram g.diff-added[data-element-id='{added['recheck']}']"
    )
    assert added_here.count() == 1
    assert page.locator(f"#changes li[data-element-id='{added['recheck']}']").count()

    page.goto(f"{live_server}/admin/procedures/creation_task")
    page.click("#migration-link")
    movable = page.locator("#migration-table tr[data-possible='true']")
    assert movable.count() > 0
    chosen = int(movable.first.get_attribute("data-instance-id"))
    page.check(f"#move-{chosen}")
    page.click("#migrate-chosen")
    page.locator(".flash--success").wait_for()
    assert ready_steps_match_the_engine(live_app, chosen) == (True, before + 1)
    assert (
        page.locator(f"#migration-table tr[data-instance-id='{chosen}']").count() == 0
    )

    # Put the demo's procedure back as it was for the pages tested after this one.
    page.goto(f"{live_server}/admin/procedures/creation_task")
    page.locator(f"tr[data-version='{before}'] button").click()
    page.locator(".flash--success").wait_for()
    assert current_version(live_app)[0] == before + 2
    assert_clean(page_log)
