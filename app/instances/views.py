"""Instance pages."""

from flask import Blueprint

bp = Blueprint(
    "instances", __name__, url_prefix="/instances", template_folder="templates"
)
