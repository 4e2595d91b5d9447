"""Hints name only options the running command has.

Core code words its hints once for every command ("view a few rows with --focus, or the strongest
links with --top-k, or raise --max-weights-mb"), but not every command has every option: browse
has no --top-k. :func:`fit` keeps the clauses of a hint whose options the command has, and drops
the others; a clause that names another command (``attncli run ...``) is about that command and
is kept. :func:`fit_error` applies it to an error, for the command that is running.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Iterable

OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
_CLAUSES = re.compile(r",\s+or\s+|,\s+|\s+or\s+")


#: Options a command has with another meaning than the hints' (browse's --top-k samples with --generate).
OTHER_MEANING = {"browse": {"--top-k"}}


def options_of(command: Any) -> set[str]:
    """Every long option name of a Click command (``--x`` and ``--no-x`` forms)."""
    names: set[str] = set()
    for param in getattr(command, "params", ()):
        for name in [*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ())]:
            names.update(part for part in name.split("/") if part.startswith("--"))
    return names


def _fits(clause: str, options: set[str]) -> bool:
    return "attncli " in clause or all(name in options for name in OPTION.findall(clause))


def fit(hint: str | None, options: Iterable[str]) -> str | None:
    """``hint`` without the clauses that name an option outside ``options`` (None if none is left)."""
    if not hint:
        return hint
    options = set(options)
    if _fits(hint, options):
        return hint
    kept = [clause for clause in _CLAUSES.split(hint) if clause and _fits(clause, options)]
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else ", ".join(kept[:-1]) + " or " + kept[-1]


def fit_error(error):
    """``error`` with its hint fitted to the command that is running (unchanged outside one)."""
    try:
        from typer._click.globals import get_current_context
    except ImportError:  # pragma: no cover - older Typer on Click
        from click import get_current_context
    ctx = get_current_context(silent=True)
    if ctx is None or not error.hint:
        return error
    hint = fit(error.hint, options_of(ctx.command) - OTHER_MEANING.get(ctx.command.name, set()))
    if hint == error.hint:
        return error
    fitted = copy.copy(error)
    fitted.hint = hint
    return fitted
