"""The committed front-end files match their pinned releases and carry licences."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = PROJECT_ROOT / "tools" / "vendor_assets.py"


@pytest.fixture(scope="module")
def vendor_assets():
    """Load tools/vendor_assets.py as a module."""
    spec = importlib.util.spec_from_file_location("vendor_assets", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_committed_files_match_versions_json(vendor_assets):
    """Every vendored file exists and has the sha256 recorded in VERSIONS.json."""
    assert vendor_assets.check() == []


def test_every_pinned_package_is_recorded_with_its_licence(vendor_assets):
    """Each pinned package is vendored at its pinned version with its LICENSE."""
    recorded = vendor_assets.read_manifest()

    assert set(recorded) == set(vendor_assets.VERSIONS)
    for name, pin in vendor_assets.VERSIONS.items():
        assert recorded[name]["version"] == pin.version
        assert recorded[name]["integrity"].startswith("sha512-")
        licence = vendor_assets.VENDOR_DIR / name / "LICENSE"
        assert licence.stat().st_size > 0, name


def test_bpmn_js_licence_keeps_the_watermark_clause(vendor_assets):
    """The bpmn.io licence text that forbids hiding the watermark is vendored."""
    licence = vendor_assets.VENDOR_DIR / "bpmn-js" / "LICENSE"

    assert "watermark" in licence.read_text(encoding="utf-8")


def test_check_reports_a_changed_and_an_unlisted_file(vendor_assets, tmp_path):
    """A tampered file and a stray file in a vendored copy are both reported."""
    copy = tmp_path / "vendor"
    shutil.copytree(vendor_assets.VENDOR_DIR, copy)
    (copy / "echarts" / "echarts.min.js").write_text("tampered", encoding="utf-8")
    (copy / "bootstrap" / "extra.css").write_text("", encoding="utf-8")
    (copy / "bpmn-js" / "LICENSE").unlink()

    problems = vendor_assets.check(copy)

    assert "echarts/echarts.min.js: sha256 differs from VERSIONS.json" in problems
    assert "bootstrap/extra.css: not recorded in VERSIONS.json" in problems
    assert "bpmn-js/LICENSE: missing" in problems
