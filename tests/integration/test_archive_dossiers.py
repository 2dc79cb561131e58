"""Freezing dossiers: content, manifest hashes, immutability and corrections."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import delete, select, update

from app.models import Archive, AuditEvent, ProcessInstance
from app.models.dossier import Dossier, DossierFile, FrozenRecordError
from app.services import dossiers
from app.services.base import transaction
from app.services.dossier_freeze import freeze_missing
from app.services.evidence import evidence_path
from processes.errors import Forbidden, InvalidInput, NotFound
from tests.factories import rectify, review, submit, verify


def instance_of(session, world, unit_code: str) -> ProcessInstance:
    """Return the unit's creation-task instance of the world's cycle."""
    return session.scalars(
        select(ProcessInstance).where(
            ProcessInstance.unit_id == world.units[unit_code].id,
            ProcessInstance.cycle_id == world.cycle.id,
        )
    ).one()


def dossier_of(session, world, unit_code: str) -> Dossier:
    """Return the frozen dossier of the unit's creation task."""
    instance = instance_of(session, world, unit_code)
    return session.scalars(
        select(Dossier).where(Dossier.instance_id == instance.id)
    ).one()


def archive_hospital_after_rectification(session, world) -> Dossier:
    """Run the hospital through county, city, a rectification and the re-review."""
    submit(session, world, "hospital")
    review(
        session, world, "county", "hospital", "approve", opinion="县级意见：材料齐全"
    )
    review(session, world, "city", "hospital", "rectify", opinion="市级意见：需整改")
    rectify(session, world, "hospital")
    verify(session, world, "city", "hospital", "passed")
    review(session, world, "city", "hospital", "approve", opinion="复审通过")
    return dossier_of(session, world, "hospital")


def archive_school_approved(session, world) -> Dossier:
    """Run the school through its county review to approval."""
    submit(session, world, "school")
    review(session, world, "county", "school", "approve", opinion="同意，继续保持")
    return dossier_of(session, world, "school")


def archive_bank_vetoed(session, world) -> Dossier:
    """Fail the bank branch with a veto item at the county review."""
    submit(session, world, "bank")
    review(
        session,
        world,
        "county",
        "bank",
        "fail",
        vetoes=["V4"],
        fail_reason="列入失信名单",
    )
    return dossier_of(session, world, "bank")


def test_dossier_holds_every_step_of_the_task(session, world):
    """A rectified and re-reviewed task's dossier has every round, level and event."""
    dossier = archive_hospital_after_rectification(session, world)
    doc = json.loads(dossier.document)

    assert doc["unit"]["name"] == "县人民医院"
    assert doc["cycle"]["name"] == world.cycle.name
    assert doc["indicator_system"]["version"] == world.system.version
    response = doc["submissions"][0]["responses"][0]
    assert response["explanation"] and response["evidence"]
    assert {e["sha256"] for e in response["evidence"]} and response["self_score"]
    levels = [(r["level"], r["decision"], r["opinion"]) for r in doc["reviews"]]
    assert levels == [
        ("county", "approve", "县级意见：材料齐全"),
        ("city", "rectify", "市级意见：需整改"),
        ("city", "approve", "复审通过"),
    ]
    assert all(r["scores"] and r["reviewer"] for r in doc["reviews"])
    item = doc["rectifications"][0]["items"][0]
    assert (item["indicator"], item["response"]) == ("B4", "已整改，补充了照片")
    assert doc["rectifications"][0]["status"] == "verified"
    archive = session.scalars(select(Archive)).one()
    assert doc["result"]["final_score"] == str(archive.final_score)
    assert doc["result"]["grade"] == archive.grade
    actions = [event["action"] for event in doc["timeline"]]
    assert actions[0] == "instance.started"
    assert "review.recorded" in actions and actions[-1] == "instance.archived"


def test_manifest_hashes_equal_the_actual_bytes(session, world):
    """Every manifest line hashes the stored bytes; the manifest hash is its own."""
    dossier = archive_school_approved(session, world)
    manifest = json.loads(dossier.manifest)

    assert hashlib.sha256(dossier.manifest).hexdigest() == dossier.manifest_sha256
    assert dossier.document == json.dumps(
        json.loads(dossier.document),
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")
    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert (
        listed["dossier.json"]["sha256"] == hashlib.sha256(dossier.document).hexdigest()
    )
    evidence = [path for path in listed if path.startswith("files/")]
    assert evidence and len(evidence) == len(listed) - 1
    for path in evidence:
        stored = evidence_path(world.upload_folder, listed[path]["sha256"])
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == listed[path]["sha256"]
        assert stored.stat().st_size == listed[path]["size"]
    rows = session.scalars(
        select(DossierFile).where(DossierFile.dossier_id == dossier.id)
    ).all()
    assert {row.path: row.sha256 for row in rows} == {
        path: entry["sha256"] for path, entry in listed.items()
    }


def test_failed_task_is_frozen_too(session, world):
    """A veto failure goes through the archive and leaves a dossier with the veto."""
    dossier = archive_bank_vetoed(session, world)
    doc = json.loads(dossier.document)

    assert doc["result"]["outcome"] == "failed"
    assert doc["result"]["vetoed"] is True
    assert doc["reviews"][0]["fail_reason"] == "列入失信名单"
    assert " V4 " in dossier.indicator_codes


def test_orm_update_of_a_dossier_is_refused(session, world):
    """Changing a frozen dossier through the ORM fails loudly and changes nothing."""
    dossier = archive_school_approved(session, world)
    original = dossier.document

    dossier.document = b"{}"
    with pytest.raises(FrozenRecordError, match="annotation"):
        session.flush()
    session.rollback()

    with pytest.raises(FrozenRecordError):
        session.execute(update(Dossier).values(search_text="x"))
    session.rollback()
    assert session.get(Dossier, dossier.id).document == original


def test_orm_delete_of_a_dossier_or_its_files_is_refused(session, world):
    """Deleting a dossier or a dossier file through the ORM fails loudly."""
    dossier = archive_school_approved(session, world)
    stored = session.scalars(select(DossierFile)).first()

    session.delete(stored)
    with pytest.raises(FrozenRecordError, match="cannot be deleted"):
        session.flush()
    session.rollback()
    with pytest.raises(FrozenRecordError):
        session.execute(delete(Dossier).where(Dossier.id == dossier.id))
    session.rollback()
    assert session.get(Dossier, dossier.id) is not None


def test_annotation_is_added_beside_the_dossier_and_audited(session, world):
    """A reviewer's correction appears with the dossier; the document is unchanged."""
    dossier = archive_school_approved(session, world)
    before = dossier.document

    dossiers.annotate(
        session,
        world.users["county"],
        dossier.id,
        "A2文号应为县文明办〔2026〕3号",
        "A2",
    )

    page = dossiers.dossier_page(session, world.users["county"], dossier.id)
    assert [(v.annotation.corrects, v.author) for v in page.annotations] == [
        ("A2", "county")
    ]
    assert page.dossier.document == before
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "dossier.annotated")
    ).one()
    assert event.actor_id == world.users["county"].id


def test_annotation_needs_office_staff_in_scope_and_text(session, world):
    """Units may not annotate, other counties do not see it, empty text is refused."""
    dossier = archive_school_approved(session, world)

    with pytest.raises(Forbidden):
        dossiers.annotate(session, world.users["school"], dossier.id, "改一下")
    with pytest.raises(NotFound):
        dossiers.annotate(session, world.users["county2"], dossier.id, "改一下")
    with pytest.raises(InvalidInput, match="text"):
        dossiers.annotate(session, world.users["county"], dossier.id, "  ")
    assert dossiers.annotations_of(session, dossier.id) == []


def test_freeze_missing_covers_archives_made_before_the_archive(session, world):
    """An archive without a dossier (an older database) gets one from the command."""
    instance_id = archive_school_approved(session, world).instance_id
    session.execute(DossierFile.__table__.delete())
    session.execute(Dossier.__table__.delete())
    session.commit()
    session.expunge_all()

    with transaction(session):
        frozen = freeze_missing(session)

    assert [d.instance_id for d in frozen] == [instance_id]
    doc = json.loads(frozen[0].document)
    assert doc["unit"]["name"] == "县第一中学" and doc["reviews"]
    with transaction(session):
        assert freeze_missing(session) == []
