"""Procedures administration pages."""
