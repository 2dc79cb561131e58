"""Searching the archive: by unit, cycle, indicator and text, inside one's scope."""

from __future__ import annotations

from app.services import dossiers
from app.services.dossiers import DossierFilters
from tests.factories import make_cycle, sign_in
from tests.integration.test_archive_dossiers import (
    archive_bank_vetoed,
    archive_hospital_after_rectification,
    archive_school_approved,
)


def found(session, user, **filters) -> set[str]:
    """Return the unit names of the dossiers a search finds for the user."""
    listing = dossiers.search_dossiers(session, user, DossierFilters(**filters))
    return {row.unit_name for row in listing.rows}


def three_dossiers(session, world) -> None:
    """Archive the hospital (rectified), the school (approved), the bank (veto)."""
    archive_hospital_after_rectification(session, world)
    archive_school_approved(session, world)
    archive_bank_vetoed(session, world)


def test_search_by_unit_cycle_indicator_and_text(session, world):
    """Each search field narrows the list to exactly the matching dossiers."""
    three_dossiers(session, world)
    county = world.users["county"]

    assert found(session, county) == {"县人民医院", "县第一中学", "某银行县支行"}
    assert found(session, county, unit="中学") == {"县第一中学"}
    assert found(session, county, cycle_id=world.cycle.id) == {
        "县人民医院",
        "县第一中学",
        "某银行县支行",
    }
    assert found(session, county, cycle_id=world.cycle.id + 100) == set()
    assert found(session, county, indicator="V4") == {"某银行县支行"}
    assert len(found(session, county, indicator="B4")) == 3
    assert found(session, county, indicator="B") == set()
    assert found(session, county, text="失信") == {"某银行县支行"}
    assert found(session, county, text="补充了照片") == {"县人民医院"}
    assert found(session, county, text="继续保持") == {"县第一中学"}


def test_search_finds_text_of_corrections(session, world):
    """A correction's text is searchable although the dossier never changes."""
    dossier = archive_school_approved(session, world)
    archive_bank_vetoed(session, world)

    dossiers.annotate(session, world.users["county"], dossier.id, "补记：校长签字页")

    assert found(session, world.users["county"], text="校长签字页") == {"县第一中学"}


def test_search_respects_scope(session, world):
    """A unit sees only its own dossiers; another county sees none of these."""
    three_dossiers(session, world)

    assert found(session, world.users["school"]) == {"县第一中学"}
    assert found(session, world.users["school"], text="失信") == set()
    assert found(session, world.users["county2"]) == set()
    assert found(session, world.users["province"], unit="医院") == {"县人民医院"}


def test_cycle_choices_list_only_cycles_with_dossiers(session, world):
    """The cycle filter offers the cycles that have dossiers the user sees."""
    archive_school_approved(session, world)
    make_cycle(session, world.offices["C01"], world.system, name="2027年度")
    session.commit()

    listing = dossiers.search_dossiers(session, world.users["city"], DossierFilters())
    assert [cycle.name for cycle in listing.cycles] == [world.cycle.name]


def test_archive_page_lists_and_searches(app, session, world):
    """The archive page shows matching dossiers with links and keeps the search."""
    three_dossiers(session, world)
    client = sign_in(app, "county")

    page = client.get("/archives/?unit=银行").get_data(as_text=True)
    assert "某银行县支行" in page and "县第一中学" not in page
    assert 'value="银行"' in page

    page = client.get("/archives/?indicator=v4").get_data(as_text=True)
    assert "某银行县支行" in page and "县人民医院" not in page


def test_archive_page_of_a_unit_shows_only_its_dossier(app, session, world):
    """A unit liaison's archive page lists its own dossier only."""
    three_dossiers(session, world)
    client = sign_in(app, "school")

    page = client.get("/archives/").get_data(as_text=True)
    assert "县第一中学" in page
    assert "县人民医院" not in page and "某银行县支行" not in page
