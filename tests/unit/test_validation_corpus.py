"""Validation of the BPMN corpus: diagrams written by other people and tools."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from processes.lint import KNOWN_FORM_KEYS, KNOWN_LANES
from processes.validation import STAGES, validate_diagram

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(
    os.environ.get("WENMING_BPMN_CORPUS")
    or PROJECT_ROOT.parent / "shared" / "corpus" / "bpmn"
)

if not (CORPUS / "expected.jsonl").is_file():
    pytest.skip(f"BPMN corpus not found at {CORPUS}", allow_module_level=True)

COMPANIONS: dict[str, list[str]] = json.loads((CORPUS / "companions.json").read_text())
EXPECTED = {
    entry["file"]: entry
    for entry in map(json.loads, (CORPUS / "expected.jsonl").read_text().splitlines())
}
VALID = sorted((CORPUS / "valid").iterdir())
INVALID = sorted((CORPUS / "invalid").iterdir())

# Negative cases the platform may accept, each with why that is safe.
ACCEPTED_INVALID = {
    "bpmnlint-superfluous-gateway-invalid.bpmn": (
        "a gateway with one way in and one way out is redundant, not wrong: the "
        "instance passes through it to the end event"
    ),
}


def validate(path: Path, **options: object):
    """Validate a corpus file together with the files it calls."""
    companions = {
        name: (path.parent / name).read_bytes()
        for name in COMPANIONS.get(path.name, [])
    }
    return validate_diagram(
        path.read_bytes(), filename=path.name, companions=companions, **options
    )


def corpus_id(path: Path) -> str:
    """Name a parametrized case by the file's folder and name."""
    return f"{path.parent.name}/{path.name}"


@pytest.mark.parametrize("path", VALID + INVALID, ids=corpus_id)
@pytest.mark.parametrize(
    "options",
    [
        {"lint": False},
        {},
        {"form_keys": KNOWN_FORM_KEYS, "lanes": KNOWN_LANES},
    ],
    ids=["engine-only", "structural-lint", "platform-lint"],
)
def test_every_file_gets_a_verdict_never_an_exception(path, options):
    """Each file is accepted or refused with readable problems from one stage."""
    verdict = validate(path, **options)

    assert verdict.filename == path.name
    if not verdict.ok:
        assert all(problem.message.strip() for problem in verdict.problems)
        assert len({problem.stage for problem in verdict.problems}) == 1
        assert verdict.problems[0].stage in STAGES


@pytest.mark.parametrize("path", INVALID, ids=corpus_id)
def test_invalid_files_are_refused(path):
    """Every negative case is refused, except the few listed as safe to accept."""
    verdict = validate(path)

    if path.name in ACCEPTED_INVALID:
        assert verdict.ok, verdict.problems
    else:
        assert not verdict.ok


def test_external_entity_file_is_refused_as_xml():
    """The XXE document is refused by the XML stage for its DOCTYPE."""
    verdict = validate(CORPUS / "invalid" / "arena-xml_with_entity-invoice.bpmn")

    assert verdict.problems[0].stage == "xml"
    assert "document type declarations" in verdict.problems[0].message


def test_environment_reading_script_is_refused_as_script():
    """The script importing os is refused by the script stage, on its task."""
    verdict = validate(CORPUS / "invalid" / "arena-dangerous-scripts-read_env.bpmn")

    problem = verdict.problems[0]
    assert problem.stage == "script"
    assert "imports are not allowed" in problem.message
    assert problem.element_id == "import_os"
    assert problem.line == 15


def parsed_by_engine(*, with_processes: bool) -> list[Path]:
    """Return the valid files the engine parsed, with or without executable ones."""
    return [
        path
        for path in VALID
        if EXPECTED[f"valid/{path.name}"]["parse_ok"]
        and bool(EXPECTED[f"valid/{path.name}"]["executable_processes"])
        == with_processes
    ]


@pytest.mark.parametrize("path", parsed_by_engine(with_processes=True), ids=corpus_id)
def test_files_the_engine_parses_give_their_process_ids(path):
    """A valid file the engine parses yields its executable process ids."""
    verdict = validate(path, lint=False)

    expected = EXPECTED[f"valid/{path.name}"]["executable_processes"]
    assert verdict.process_ids == expected
    assert verdict.ok or verdict.problems[0].stage == "script"


@pytest.mark.parametrize("path", parsed_by_engine(with_processes=False), ids=corpus_id)
def test_modeller_exports_without_executable_process_are_refused(path):
    """A diagram whose processes are all non-executable has nothing to run."""
    verdict = validate(path, lint=False)

    assert verdict.problems[0].stage == "engine"
    assert verdict.problems[0].message.startswith("no executable process")


def engine_accepted_user_task_files() -> list[Path]:
    """Return the valid files the engine accepts that have user tasks."""
    return [
        path
        for path in VALID
        if b"userTask" in path.read_bytes() and validate(path, lint=False).ok
    ]


@pytest.mark.parametrize("path", engine_accepted_user_task_files(), ids=corpus_id)
def test_platform_lint_refuses_foreign_user_tasks_for_form_or_lane(path):
    """A foreign diagram's user tasks lack the platform's forms and lanes."""
    verdict = validate(path, form_keys=KNOWN_FORM_KEYS, lanes=KNOWN_LANES)

    assert not verdict.ok
    assert verdict.problems[0].stage == "lint"
    assert any(
        "form" in problem.message or "lane" in problem.message
        for problem in verdict.problems
    )
