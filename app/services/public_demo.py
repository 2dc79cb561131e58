"""Demo articles, good practice and a public report for the public site."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session


def load(session: Session, *, upload_folder: Path) -> None:
    """Add this area's demo records to a freshly loaded demo organisation."""
