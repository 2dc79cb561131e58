"""The inbox: the tasks a person can act on, notifications, claims and assignments."""
