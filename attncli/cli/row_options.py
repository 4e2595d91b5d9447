"""The query-row options, declared once: ``--focus``, ``--rows``, ``--stats`` (run, compare, explain, browse).

    @app.command("explain")
    @row_options("focus", "rows", focus="explain")
    @attention_command
    def explain(text: str, *, rows: RowOptions, opts: CommandOptions): ...

adds the named options (each command takes the ones that apply to it; the others keep their defaults)
and hands the command one :class:`RowOptions`. ``focus`` picks the wording and the type of ``--focus``:
repeatable query rows (run, explain) or the one token a command follows or opens on (compare, browse).
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Optional

import typer

from attncli.errors import AttnError

PANEL = "Output"

#: ``--focus``'s help per command: (type, metavar, help).
FOCUS = {
    "run": (list[str], "TOKEN|INDEX", "Only these query rows (repeatable): a token (every occurrence), TOKEN@K "
                                      "(K-th, 1-based) or a 0-based index."),
    "explain": (list[str], "TOKEN|INDEX", "With --model: explain only these query rows (repeatable; -1 is the last "
                                          "token). Only they are computed, from the queries and keys: long texts fit."),
    "compare": (Optional[str], "TOKEN[@K]", "The token to follow (K-th occurrence with TOKEN@K, 1-based). Default: "
                                            "every shared token."),
    "browse": (Optional[str], "TOKEN|INDEX", "The query token to open on: its text or a 0-based index (-1: the last)."),
}

#: ``--rows``'s help per command.
ROWS_HELP = {
    "run": "With --model: only query rows A to B-1 (0-based; -16: the last 16). Like --focus, only these rows are "
           "computed: long texts fit.",
    "explain": "With --model: only query rows A to B-1 (0-based; -16: the last 16), as --focus.",
    "browse": "With --model: open on a window of query rows A to B-1 (0-based; -16: the last 16), computed from the "
              "queries and keys; moving past its edge computes the next. A long text opens on a window anyway.",
}
STATS_HELP = ("With --model: per-row summaries only (entropy, first-token share, top-1 key), every row computed "
              "chunk by chunk: no N x N weights are held.")


@dataclass
class RowOptions:
    """The query rows a command computes: ``focus`` (a list, or one token), ``rows`` (``A:B``), ``stats``."""

    focus: Any = field(default_factory=list)
    rows: Optional[str] = None
    stats: bool = False

    def need_model(self, model: str | None, reason: str, hint: str, *, focus: bool = False) -> None:
        """``--rows`` and ``--stats`` (and ``--focus`` with ``focus``) are for a real model's row path:
        without ``model`` each is refused, ``reason`` saying why and ``hint`` what to use instead."""
        for flag, given in (("--focus", focus and bool(self.focus)), ("--rows", self.rows is not None),
                            ("--stats", self.stats)):
            if given and model is None:
                raise AttnError(f"{flag} goes with --model ({reason})", where=flag, hint=hint)


def _param(command: str, name: str) -> tuple[Any, Any]:
    """(type, typer.Option) of one row option as ``command`` words it."""
    if name == "focus":
        kind, metavar, text = FOCUS[command]
        return kind, typer.Option("--focus", metavar=metavar, rich_help_panel=PANEL, help=text)
    if name == "rows":
        return Optional[str], typer.Option("--rows", metavar="A:B", rich_help_panel=PANEL, help=ROWS_HELP[command])
    return bool, typer.Option("--stats", metavar=" ", rich_help_panel=PANEL, help=STATS_HELP)


def row_options(*names: str, command: str) -> Callable:
    """Add ``names`` (of focus, rows, stats) to ``command`` as options, and hand it ``rows: RowOptions``
    (an option the command does not take keeps its default)."""
    defaults = {"focus": [] if FOCUS[command][0] == list[str] else None, "rows": None, "stats": False}

    def decorator(func: Callable) -> Callable:
        signature = inspect.signature(func, eval_str=True)
        kept = [p for p in signature.parameters.values() if p.name != "rows"]
        added = [inspect.Parameter(f"rows_{name}", inspect.Parameter.KEYWORD_ONLY,
                                   annotation=Annotated[kind, option], default=defaults[name])
                 for name, (kind, option) in ((name, _param(command, name)) for name in names)]

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            values = {name: kwargs.pop(f"rows_{name}") for name in names}
            if values.get("focus") is None:  # a repeatable option not given may come as None
                values["focus"] = defaults["focus"]
            kwargs["rows"] = RowOptions(**{**defaults, **values})
            return func(*args, **kwargs)

        positional = [p for p in kept if p.kind != inspect.Parameter.KEYWORD_ONLY]
        keyword = [p for p in kept if p.kind == inspect.Parameter.KEYWORD_ONLY]
        wrapper.__signature__ = signature.replace(parameters=positional + keyword + added)
        del wrapper.__wrapped__
        return wrapper

    return decorator
