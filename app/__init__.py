"""Wenming, the creation work platform of civilization offices and their units.

Importing the package does not import Flask, so the engine layer can use the
models on their own; the web application is built by `create_app`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: dict | None = None) -> Flask:
    """Build the web application; `test_config` overrides configuration keys."""
    from app.factory import build_app

    return build_app(test_config)
