"""Organisation administration pages."""
