"""Cycle results pages: scores, grades, ranks, deductions and the Excel export."""
