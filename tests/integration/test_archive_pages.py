"""The dossier page: the frozen record readable, its files, and corrections."""

from __future__ import annotations

import json
from urllib.parse import quote

from app.services import dossiers
from tests.factories import sign_in
from tests.integration.test_archive_dossiers import (
    archive_hospital_after_rectification,
    archive_school_approved,
)


def test_dossier_page_shows_the_record_files_and_hash(app, session, world):
    """The page shows opinions, rectification, final score, files and manifest hash."""
    dossier = archive_hospital_after_rectification(session, world)
    doc = json.loads(dossier.document)

    page = sign_in(app, "city").get(f"/archives/{dossier.id}").get_data(as_text=True)

    assert "县人民医院" in page and "市级意见：需整改" in page
    assert "已整改，补充了照片" in page
    assert doc["result"]["final_score"] in page
    assert dossier.manifest_sha256 in page
    first_file = doc["submissions"][0]["responses"][0]["evidence"][0]["path"]
    assert f"/archives/{dossier.id}/files/{quote(first_file)}" in page
    assert "Download ZIP" in page and "Add correction" in page


def test_dossier_files_download_for_those_who_see_the_unit(app, session, world):
    """An evidence file and the document download; other counties get a 404."""
    dossier = archive_school_approved(session, world)
    path = json.loads(dossier.manifest)["files"][1]["path"]
    client = sign_in(app, "school")

    assert client.get(f"/archives/{dossier.id}/files/{path}").status_code == 200
    document = client.get(f"/archives/{dossier.id}/dossier.json")
    assert document.data == dossier.document
    assert client.get(f"/archives/{dossier.id}/files/files/none.png").status_code == 404
    other = sign_in(app, "county2")
    assert other.get(f"/archives/{dossier.id}").status_code == 404
    assert other.get(f"/archives/{dossier.id}/download.zip").status_code == 404


def test_reviewer_adds_a_correction_through_the_page(app, session, world):
    """A county reviewer's correction appears beside the dossier after posting."""
    dossier = archive_school_approved(session, world)
    client = sign_in(app, "county")

    response = client.post(
        f"/archives/{dossier.id}/annotations",
        data={"corrects": "A2", "text": "计划文号补正为〔2026〕3号"},
    )
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "计划文号补正为〔2026〕3号" in page


def test_unit_reads_its_dossier_but_cannot_correct_it(app, session, world):
    """A unit liaison sees no correction form, and a posted one is refused."""
    dossier = archive_school_approved(session, world)
    client = sign_in(app, "school")

    page = client.get(f"/archives/{dossier.id}").get_data(as_text=True)
    assert "县第一中学" in page and 'id="add-correction"' not in page
    response = client.post(
        f"/archives/{dossier.id}/annotations", data={"text": "我们想改分"}
    )
    assert response.status_code == 403
    assert dossiers.annotations_of(session, dossier.id) == []


def test_empty_correction_is_refused_with_the_reason(app, session, world):
    """Posting an empty correction answers 422 and adds nothing."""
    dossier = archive_school_approved(session, world)
    client = sign_in(app, "county")

    response = client.post(f"/archives/{dossier.id}/annotations", data={"text": ""})

    assert response.status_code == 422
    assert dossiers.annotations_of(session, dossier.id) == []
