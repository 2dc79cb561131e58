"""Indicator systems administration pages."""
