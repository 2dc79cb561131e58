"""The inbox query service: filters, sorts, pages, counts and scope in plain SQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, update

from app.models import HumanTask, utcnow
from app.services import tasks
from app.services.inbox import InboxQuery, inbox
from processes.errors import InvalidInput
from tests.factories import submit, task_for

REVIEWED = ("hospital", "school", "community")


@pytest.fixture
def reviews(session, world):
    """Have three units submit, so three county reviews wait."""
    for code in REVIEWED:
        submit(session, world, code)
    return world


def units_of(page) -> list[str]:
    """Return the unit codes of a page's items, in order."""
    return [item.unit.code for item in page.items]


def set_due(session, world, due_by_unit: dict) -> None:
    """Give the units' ready tasks the given deadlines."""
    for code, due_at in due_by_unit.items():
        session.execute(
            update(HumanTask)
            .where(HumanTask.unit_id == world.units[code].id)
            .where(HumanTask.state == "ready")
            .values(due_at=due_at)
        )
    session.commit()


def test_filters_narrow_the_reviewers_tasks(session, reviews):
    """Cycle, level, office, unit type and text filters each narrow the list."""
    county, world = reviews.users["county"], reviews
    now = utcnow()

    def codes(**filters) -> list[str]:
        query = InboxQuery(sort="unit", **filters)
        return sorted(units_of(inbox(session, county, query, now=now)))

    assert codes() == sorted(REVIEWED)
    assert codes(cycle_id=world.cycle.id) == sorted(REVIEWED)
    assert codes(cycle_id=world.cycle.id + 100) == []
    assert codes(level="county") == sorted(REVIEWED)
    assert codes(level="city") == []
    assert codes(office_id=world.offices["X01"].id) == sorted(REVIEWED)
    assert codes(unit_type="school") == ["school"]
    assert codes(q="医院") == ["hospital"]


def test_text_search_ignores_case_and_escapes_wildcards(session, reviews):
    """A search matches the unit name in any case; % and _ are taken literally."""
    reviews.units["hospital"].name = "County People's Hospital"
    session.commit()
    county, now = reviews.users["county"], utcnow()

    found = inbox(session, county, InboxQuery(q="people's HOSP"), now=now)
    wildcard = inbox(session, county, InboxQuery(q="%"), now=now)
    underscore = inbox(session, county, InboxQuery(q="_"), now=now)

    assert units_of(found) == ["hospital"]
    assert wildcard.total == 0
    assert underscore.total == 0


def test_office_outside_the_scope_is_refused(session, reviews):
    """Filtering by another county's office is refused, naming the field."""
    county = reviews.users["county"]
    query = InboxQuery(office_id=reviews.offices["Y01"].id)

    with pytest.raises(InvalidInput) as refused:
        inbox(session, county, query, now=utcnow())

    assert "office_id" in refused.value.details["errors"]


def test_due_windows_and_sorts(session, reviews):
    """Overdue and this week's tasks filter; each sort orders as promised."""
    now = utcnow()
    set_due(
        session,
        reviews,
        {
            "hospital": now + timedelta(days=20),
            "school": now - timedelta(days=1),
            "community": now + timedelta(days=3),
        },
    )
    county = reviews.users["county"]

    def order(**options) -> list[str]:
        return units_of(inbox(session, county, InboxQuery(**options), now=now))

    assert order(due="overdue") == ["school"]
    assert order(due="week") == ["community"]
    assert order() == ["school", "community", "hospital"]
    assert order(sort="due") == ["school", "community", "hospital"]
    assert order(sort="received") == ["community", "school", "hospital"]
    assert order(sort="unit") == sorted(
        REVIEWED, key=lambda code: reviews.units[code].name
    )


def test_tasks_without_deadline_come_last(session, reviews):
    """A task with no deadline sorts after every dated one."""
    now = utcnow()
    set_due(session, reviews, {"hospital": None, "school": now + timedelta(days=9)})

    page = inbox(session, reviews.users["county"], InboxQuery(), now=now)

    assert units_of(page)[-1] == "hospital"


def test_pages_split_the_list(session, reviews):
    """Pages hold per_page tasks; the total counts them all."""
    county, now = reviews.users["county"], utcnow()

    pages = [
        inbox(session, county, InboxQuery(page=n, per_page=2), now=now)
        for n in (1, 2, 3)
    ]

    assert [len(p.items) for p in pages] == [2, 1, 0]
    assert {p.total for p in pages} == {3}
    assert pages[0].pages == 2
    seen = units_of(pages[0]) + units_of(pages[1])
    assert sorted(seen) == sorted(REVIEWED)


def test_counts_cover_everything_the_user_may_act_on(session, reviews):
    """Counts by cycle, level and deadline ignore the filters of the page."""
    now = utcnow()
    set_due(
        session,
        reviews,
        {"school": now - timedelta(hours=1), "hospital": now + timedelta(days=2)},
    )
    query = InboxQuery(q="社区")

    page = inbox(session, reviews.users["county"], query, now=now)

    assert page.total == 1
    assert page.counts["all"] == 3
    assert page.counts["cycle"] == {reviews.cycle.id: 3}
    assert page.counts["level"] == {"county": 3}
    assert page.counts["due"] == {"overdue": 1, "week": 1}


def test_other_county_sees_nothing(session, reviews):
    """A reviewer of another county gets no task and zero counts."""
    page = inbox(session, reviews.users["county2"], InboxQuery(), now=utcnow())

    assert page.items == []
    assert page.total == 0
    assert page.counts["all"] == 0
    assert page.counts["level"] == {}


def test_a_liaison_sees_only_the_own_units_task(session, reviews):
    """A liaison whose unit has not submitted sees that one submission task."""
    page = inbox(session, reviews.users["bank"], InboxQuery(), now=utcnow())

    assert units_of(page) == ["bank"]
    assert page.items[0].task.form_key == "unit_submission"


def test_tasks_claimed_by_others_are_left_out(session, reviews):
    """A task claimed by a colleague disappears from the inbox; the claimant sees it."""
    colleague = reviews.users["county_b"]
    task = task_for(session, colleague, "school")
    tasks.claim(session, colleague, task.id)
    now = utcnow()

    mine = inbox(session, reviews.users["county"], InboxQuery(), now=now)
    theirs = inbox(session, colleague, InboxQuery(unit_type="school"), now=now)

    assert "school" not in units_of(mine)
    assert theirs.items[0].claimed_by.username == "county_b"


def test_statement_count_does_not_grow_with_the_page(session, reviews):
    """Listing a page with units, cycles and claimants runs a fixed few statements."""
    county = reviews.users["county"]
    tasks.claim(session, county, task_for(session, county, "school").id)
    session.expire_all()
    assert county.office.path
    statements = []

    def count(*args) -> None:
        statements.append(args[2])

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        page = inbox(session, county, InboxQuery(), now=utcnow())
        shown = [
            (i.unit.name, i.cycle.name, i.claimed_by and i.claimed_by.display_name)
            for i in page.items
        ]
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert len(shown) == 3
    assert len(statements) <= 5
    assert not any("process_instances" in sql for sql in statements)


def test_query_parameters_are_read_and_checked():
    """Good parameters become a query; bad ones are each named with a reason."""
    query = InboxQuery.from_args(
        {"cycle_id": "3", "due": "week", "q": " 医院 ", "sort": "due", "page": "2"}
    )
    defaults = InboxQuery.from_args({"q": "", "level": ""})

    with pytest.raises(InvalidInput) as refused:
        InboxQuery.from_args(
            {
                "cycle_id": "abc",
                "level": "mayor",
                "due": "soon",
                "sort": "random",
                "page": "0",
                "per_page": "101",
            }
        )

    assert query == InboxQuery(cycle_id=3, due="week", q="医院", sort="due", page=2)
    assert defaults == InboxQuery()
    assert set(refused.value.details["errors"]) == {
        "cycle_id",
        "level",
        "due",
        "sort",
        "page",
        "per_page",
    }
