"""Statistics pages (统计分析) for an office's subtree."""

from __future__ import annotations

import logging

from flask import Blueprint

logger = logging.getLogger(__name__)

bp = Blueprint(
    "statistics", __name__, url_prefix="/statistics", template_folder="templates"
)


@bp.get("/")
def index():
    """Show the area's start page."""
    return ""
