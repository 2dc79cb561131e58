"""The public site: civilized units, good practice, articles and reports."""
