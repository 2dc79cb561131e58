"""The engine layer stands on its own: no Flask, no web request needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_processes_import_without_flask():
    """Importing the engine layer and the models loads no Flask module."""
    code = (
        "import sys, processes.runner, processes.validation, processes.registry, "
        "app.models; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'flask_sqlalchemy', 'flask_login')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"
