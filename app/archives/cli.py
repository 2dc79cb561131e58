"""`flask archive`: check the frozen dossiers against their manifests."""

from __future__ import annotations

from flask.cli import AppGroup

archive_cli = AppGroup("archive", help="Check and export the electronic archive.")
