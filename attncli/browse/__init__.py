"""``attncli browse``: explore attention interactively in the terminal (the optional ``tui`` extra).

``data`` computes everything once (the only module that runs attention), ``state`` holds the
cursor, ``draw`` makes the pictures, ``app`` and ``screens`` are the Textual app. Textual is
imported only when the browser opens.
"""

from __future__ import annotations

TUI_HINT = "pip install 'attncli[tui]'"
