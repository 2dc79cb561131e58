"""Domain services: plain functions with explicit arguments, for pages, API and CLI."""
