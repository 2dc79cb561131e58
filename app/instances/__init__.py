"""Instance pages: the diagram with the path taken, the timeline and the scores."""
