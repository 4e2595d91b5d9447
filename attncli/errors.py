"""Exit statuses and the one exception type that carries a user-facing message.

Nothing here imports torch, Rich or Typer: the core raises ``AttnError`` and the
CLI layer (``attncli.cli.output``) turns it into one line on stderr.
"""

from __future__ import annotations

import math
from enum import IntEnum

from attncli.io.textsafe import visible


class ExitCode(IntEnum):
    """Documented exit statuses (README, "Exit codes")."""

    OK = 0
    #: A runtime failure: non-finite results, numeric overflow, out of memory.
    FAILURE = 1
    #: Bad input or usage: config, text, option values, unavailable device.
    USAGE = 2
    #: The terminal went away (SIGHUP): 128 + 1. Temporary files removed, the previous target intact.
    HANGUP = 129
    #: Interrupted (Ctrl-C): 128 + SIGINT, as shells report it.
    INTERRUPTED = 130
    #: Terminated (SIGTERM, ``kill``): 128 + 15, handled as Ctrl-C is.
    TERMINATED = 143


class AttnError(Exception):
    """An error the user can act on.

    ``where`` names the place (``file:line:col``, a key path, an option, a token),
    ``hint`` says how to fix it when that is obvious, ``kind`` is a short machine
    readable category used in the JSON error line.
    """

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        hint: str | None = None,
        kind: str = "input",
        code: ExitCode = ExitCode.USAGE,
        details: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint
        self.kind = kind
        self.code = code
        #: Further problems found at the same time (e.g. every config problem).
        self.details = details or []

    def line(self) -> str:
        """The message for a terminal: control and bidi characters escaped (the JSON keeps them)."""
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f" ({self.hint})"
        return visible(text)

    def lines(self) -> list[str]:
        """:meth:`line`, then every further problem, each escaped for the terminal."""
        return [self.line(), *(visible(extra) for extra in self.details)]

    def to_dict(self) -> dict:
        doc = {
            "kind": self.kind,
            "message": self.message,
            "where": self.where,
            "hint": self.hint,
            "exit_code": int(self.code),
        }
        if self.details:
            doc["problems"] = list(self.details)
        return doc

    def __str__(self) -> str:  # pragma: no cover - convenience for debugging
        return self.line()


def numeric_error(message: str, hint: str | None = None, where: str | None = None) -> AttnError:
    """A result that is not finite: a runtime failure, exit status 1."""
    return AttnError(message, where=where, hint=hint, kind="numeric", code=ExitCode.FAILURE)


def finite_option(value, where: str):
    """``value`` unchanged when it is a finite number (or None); nan and inf are refused (exit 2).

    Every float option goes through this (``--max-weights-mb nan``, ``bench --memory-mb inf``):
    a non-finite number is never a meaningful size, budget or divisor.
    """
    if value is None:
        return value
    if isinstance(value, (list, tuple)):
        for item in value:
            finite_option(item, where)
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise AttnError(f"must be a finite number, got {value!r}", where=where,
                        hint="NaN and infinite values are not allowed")
    return value
