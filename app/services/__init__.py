"""Domain services: plain functions with explicit arguments, shared by pages, API and CLI."""
