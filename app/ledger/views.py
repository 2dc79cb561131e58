"""Ledger pages (台账): units record their creation work as it happens."""

from __future__ import annotations

import logging

from flask import Blueprint

logger = logging.getLogger(__name__)

bp = Blueprint("ledger", __name__, url_prefix="/ledger", template_folder="templates")


@bp.get("/")
def index():
    """Show the area's start page."""
    return ""
