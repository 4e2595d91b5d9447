"""The core: tokens, the attention math, the Record, and what is computed from records (focus, comparison, explain, head scores).

Nothing here imports typer, rich or textual, or names a command-line option.
"""
