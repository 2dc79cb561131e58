"""The unit's ledger of creation activities (台账)."""

from __future__ import annotations
