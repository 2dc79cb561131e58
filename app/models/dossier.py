"""Frozen dossiers of finished creation tasks (档案电子化)."""

from __future__ import annotations
