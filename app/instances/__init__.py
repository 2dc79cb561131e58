"""Instance pages: the diagram with the path taken, the timeline, materials and scores."""
