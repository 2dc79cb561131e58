"""Electronic archive pages (档案电子化): frozen dossiers, search and download."""

from __future__ import annotations

import logging

from flask import Blueprint

logger = logging.getLogger(__name__)

bp = Blueprint(
    "archives", __name__, url_prefix="/archives", template_folder="templates"
)


@bp.get("/")
def index():
    """Show the area's start page."""
    return ""
