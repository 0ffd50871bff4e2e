"""Report layer: a diff as a terminal table, Markdown, JSON, JUnit or HTML."""
