"""Ledger pages (台账): units record their creation work as it happens."""
