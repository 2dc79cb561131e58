"""Public site content and public reports (社会监督)."""

from __future__ import annotations
