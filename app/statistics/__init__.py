"""Statistics pages (统计分析) for an office's subtree."""
