"""Cycle pages: cycles with their issuance progress, opening cycles, schedules."""
