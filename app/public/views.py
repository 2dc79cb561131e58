"""The public site: civilized units, good practice, articles and reports."""

from __future__ import annotations

import logging

from flask import Blueprint

logger = logging.getLogger(__name__)

bp = Blueprint("public", __name__, url_prefix="/public", template_folder="templates")


@bp.get("/")
def index():
    """Show the area's start page."""
    return ""
