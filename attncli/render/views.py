"""Names of the terminal views (kept apart so that --json runs never import Rich)."""

VIEWS = ("auto", "full", "compact", "grid")
