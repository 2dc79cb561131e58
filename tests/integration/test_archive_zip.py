"""Dossier ZIPs and `flask archive`: download, offline index, tamper checks."""

from __future__ import annotations

import io
import json
import zipfile

from app.services import dossier_zip, dossiers
from app.services.dossier_zip import verify_zip
from app.services.evidence import evidence_path
from tests.factories import sign_in
from tests.integration.test_archive_dossiers import (
    archive_hospital_after_rectification,
    archive_school_approved,
)


def download(app, username: str, dossier_id: int) -> bytes:
    """Return the dossier ZIP as the signed-in user downloads it."""
    response = sign_in(app, username).get(f"/archives/{dossier_id}/download.zip")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    return response.data


def with_changed_member(content: bytes, name: str, new: bytes) -> bytes:
    """Return a copy of a ZIP with one member's bytes replaced."""
    source = zipfile.ZipFile(io.BytesIO(content))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            data = new if info.filename == name else source.read(info.filename)
            target.writestr(info.filename, data)
    return buffer.getvalue()


def test_downloaded_zip_holds_manifest_files_index_and_annotations(app, session, world):
    """The ZIP has the manifest, its hash, the document, files, index, corrections."""
    dossier = archive_school_approved(session, world)
    dossiers.annotate(session, world.users["county"], dossier.id, "补记一条", "A2")

    archive = zipfile.ZipFile(io.BytesIO(download(app, "school", dossier.id)))
    names = set(archive.namelist())
    listed = [e["path"] for e in json.loads(archive.read("manifest.json"))["files"]]

    assert {"manifest.json", "manifest.sha256", "dossier.json", "index.html"} <= names
    assert set(listed) <= names
    assert archive.read("manifest.sha256").decode().split() == [
        dossier.manifest_sha256,
        "manifest.json",
    ]
    notes = json.loads(archive.read("annotations.json"))
    assert [(n["corrects"], n["text"]) for n in notes] == [("A2", "补记一条")]
    assert "annotations.sha256" in names


def test_index_page_shows_unit_score_and_links_to_the_files(app, session, world):
    """index.html in the ZIP names the unit, the final score and links every file."""
    dossier = archive_school_approved(session, world)
    final_score = json.loads(dossier.document)["result"]["final_score"]

    archive = zipfile.ZipFile(io.BytesIO(download(app, "county", dossier.id)))
    index = archive.read("index.html").decode("utf-8")

    assert "县第一中学" in index and final_score in index
    for entry in json.loads(archive.read("manifest.json"))["files"]:
        assert f'href="{entry["path"]}"' in index
    assert "<script" not in index and "http" not in index.replace("http-equiv", "")


def test_downloaded_zip_verifies(app, session, world):
    """A ZIP fresh from the archive verifies against its manifest and the database."""
    dossier = archive_hospital_after_rectification(session, world)

    report = verify_zip(download(app, "city", dossier.id), session)

    assert report.ok, report.problems
    assert report.known_to_archive and report.dossier_id == dossier.id
    assert report.files_checked == len(json.loads(dossier.manifest)["files"])


def test_zip_with_a_changed_file_fails_naming_that_file(app, session, world):
    """Changing one evidence file inside the ZIP is reported for exactly that file."""
    dossier = archive_school_approved(session, world)
    content = download(app, "county", dossier.id)
    victim = json.loads(dossier.manifest)["files"][1]["path"]

    report = verify_zip(with_changed_member(content, victim, b"forged"), session)

    assert not report.ok
    assert report.paths("changed") == [victim]


def test_zip_with_a_rewritten_manifest_differs_from_the_frozen_one(app, session, world):
    """A manifest rewritten to match a forged file still fails the frozen hash."""
    dossier = archive_school_approved(session, world)
    content = download(app, "county", dossier.id)
    manifest = json.loads(dossier.manifest)
    manifest["files"][0]["sha256"] = "0" * 64
    forged = json.dumps(manifest).encode()

    report = verify_zip(with_changed_member(content, "manifest.json", forged), session)

    assert set(report.paths("changed")) == {"manifest.json", "dossier.json"}
    assert report.paths("not_frozen") == ["manifest.json"]


def test_check_page_shows_which_file_changed(app, session, world):
    """The check page reports an intact ZIP, then names the file that was changed."""
    dossier = archive_school_approved(session, world)
    content = download(app, "county", dossier.id)
    client = sign_in(app, "county")

    def check(data: bytes):
        return client.post(
            "/archives/check",
            data={"archive": (io.BytesIO(data), "dossier.zip")},
            content_type="multipart/form-data",
        )

    intact = check(content).get_data(as_text=True)
    assert 'data-ok="yes"' in intact
    changed = check(with_changed_member(content, "dossier.json", b"{}"))
    page = changed.get_data(as_text=True)
    assert 'data-ok="no"' in page and "dossier.json" in page
    assert check(b"not a zip").status_code == 422


def with_flipped_byte(content: bytes, name: str) -> bytes:
    """Return a copy of a ZIP with one byte of a member's stored data altered."""
    archive = zipfile.ZipFile(io.BytesIO(content))
    info = archive.getinfo(name)
    header = content[info.header_offset : info.header_offset + 30]
    start = info.header_offset + 30 + int.from_bytes(header[26:28], "little")
    start += int.from_bytes(header[28:30], "little")
    altered = bytearray(content)
    altered[start + info.compress_size // 2] ^= 0x5A
    return bytes(altered)


def test_byte_altered_inside_the_zip_is_reported_for_that_file(
    app, cli, session, world, tmp_path
):
    """A member edited in place is named as damaged on the page and by the command."""
    dossier = archive_school_approved(session, world)
    content = download(app, "county", dossier.id)
    path = next(
        e["path"]
        for e in json.loads(dossier.manifest)["files"]
        if e["path"].startswith("files/")
    )
    altered = with_flipped_byte(content, path)

    page = sign_in(app, "county").post(
        "/archives/check?lang=en",
        data={"archive": (io.BytesIO(altered), "dossier.zip")},
        content_type="multipart/form-data",
    )
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-ok="no"' in text
    row = text[text.index('data-problem="damaged"') :]
    assert path in row[: row.index("</tr>")]
    assert "Damaged inside the ZIP" in text

    altered_file = tmp_path / "altered.zip"
    altered_file.write_bytes(altered)
    result = cli.invoke(args=["archive", "verify-zip", str(altered_file)])
    assert result.exit_code == 1 and f"{path}: damaged" in result.output


def test_zip_unpacking_to_too_much_is_refused(app, session, world, monkeypatch):
    """A ZIP that inflates far beyond its size is refused before it is read."""
    dossier = archive_school_approved(session, world)
    content = download(app, "county", dossier.id)
    monkeypatch.setattr(dossier_zip, "MAX_UNPACKED_BYTES", 1000)

    page = sign_in(app, "county").post(
        "/archives/check",
        data={"archive": (io.BytesIO(content), "dossier.zip")},
        content_type="multipart/form-data",
    )

    assert page.status_code == 422
    assert "unpacks to more than any dossier ZIP" in page.get_data(as_text=True)


def test_cli_verify_reports_ok_then_the_tampered_file(app, cli, session, world):
    """`flask archive verify` passes, then names the dossier and file overwritten."""
    dossier = archive_school_approved(session, world)
    result = cli.invoke(args=["archive", "verify"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: 1 dossiers")

    entry = json.loads(dossier.manifest)["files"][1]
    evidence_path(world.upload_folder, entry["sha256"]).write_bytes(b"overwritten")
    result = cli.invoke(args=["archive", "verify"])

    assert result.exit_code == 1
    problem = next(line for line in result.output.splitlines() if "changed" in line)
    assert f"dossier {dossier.id} (县第一中学) {entry['path']}" in problem
    assert entry["sha256"] in problem
    assert "TAMPERED: 1 of 1 dossiers" in result.output


def test_cli_verify_reports_a_missing_file_and_filters(app, cli, session, world):
    """A deleted evidence file is reported missing; --cycle and --dossier narrow."""
    dossier = archive_school_approved(session, world)
    entry = json.loads(dossier.manifest)["files"][1]
    evidence_path(world.upload_folder, entry["sha256"]).unlink()

    result = cli.invoke(args=["archive", "verify", "--dossier", str(dossier.id)])
    assert result.exit_code == 1
    assert f"{entry['path']}: missing" in result.output
    other = cli.invoke(args=["archive", "verify", "--cycle", str(world.cycle.id + 9)])
    assert other.exit_code == 0 and "OK: 0 dossiers" in other.output


def test_cli_verify_zip_checks_a_downloaded_file(app, cli, session, world, tmp_path):
    """`flask archive verify-zip` accepts a fresh ZIP and refuses a changed one."""
    dossier = archive_school_approved(session, world)
    content = download(app, "county", dossier.id)
    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    good.write_bytes(content)
    bad.write_bytes(with_changed_member(content, "dossier.json", b"{}"))

    result = cli.invoke(args=["archive", "verify-zip", str(good)])
    assert result.exit_code == 0 and "matches this archive" in result.output
    result = cli.invoke(args=["archive", "verify-zip", str(bad)])
    assert result.exit_code == 1 and "dossier.json: changed" in result.output


def test_cli_freeze_missing_reports_nothing_to_do(app, cli, session, world):
    """`flask archive freeze --missing` freezes nothing when every archive has one."""
    archive_school_approved(session, world)

    result = cli.invoke(args=["archive", "freeze", "--missing"])

    assert result.exit_code == 0 and "0 dossiers frozen." in result.output
    assert cli.invoke(args=["archive", "freeze"]).exit_code == 2
