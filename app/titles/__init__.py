"""Unit and title pages: the units list, title history and title reviews."""
