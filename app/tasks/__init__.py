"""Task pages: the form a task's diagram names, its evidence, and its history."""
