"""Electronic archive pages (档案电子化): frozen dossiers, search and download."""
