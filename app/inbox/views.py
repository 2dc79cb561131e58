"""Inbox pages."""

from flask import Blueprint

bp = Blueprint("inbox", __name__, url_prefix="/inbox", template_folder="templates")
