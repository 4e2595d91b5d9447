"""Exit statuses and the one exception type that carries a user-facing message.

Nothing here imports torch, Rich or Typer: the core raises ``AttnError`` and the
CLI layer (``attncli.cli.output``) turns it into one line on stderr.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from contextvars import ContextVar
from enum import IntEnum
from typing import Iterator

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


class Naming:
    """How messages name parameters: as the Python API does (``max_weights_mb``, ``text``).

    The command line installs its own (attncli.cli.params: ``--max-weights-mb``, ``TEXT``) while a
    command runs, so one error reads right in a notebook and in a terminal.
    """

    def option(self, param: str) -> str:
        return param

    def call(self, command: str, text: str) -> str:
        """How to run ``command`` on ``text``, for hints."""
        function = command if command in ("run", "explain", "compare") else "run"
        return f"attncli.{function}({text!r})"

    def example(self, command: str, model: str | None = None) -> str:
        """A call that gives a text, for the "no text given" hint."""
        function = command if command in ("run", "explain") else "run"
        if model is not None:
            return f'e.g. attncli.{function}("the cat", model={model!r})'
        return f'give a text, e.g. attncli.{function}("She ate the apple"), or a tensors config'


_NAMING: ContextVar[Naming] = ContextVar("attncli_parameter_naming", default=Naming())


def option(param: str) -> str:
    """A parameter as messages name it: ``focus`` for the Python API, ``--focus`` under the command line.

    ``param`` is the keyword argument of :mod:`attncli.api` (``max_weights_mb``, ``text``); code outside
    attncli.cli never spells a command-line option, it names the parameter and lets the caller's naming
    decide.
    """
    return _NAMING.get().option(param)


def text_example(command: str, model: str | None = None) -> str:
    return _NAMING.get().example(command, model)


def call_example(command: str, text: str) -> str:
    """``attncli run "TEXT"`` under the command line, ``attncli.run('TEXT')`` for the API."""
    return _NAMING.get().call(command, text)


@contextmanager
def parameter_naming(naming: Naming) -> Iterator[None]:
    """Name parameters with ``naming`` inside this block."""
    token = _NAMING.set(naming)
    try:
        yield
    finally:
        _NAMING.reset(token)


class AttnError(Exception):
    """An error the user can act on.

    ``where`` names the place (``file:line:col``, a key path, a parameter, a token),
    ``hint`` says how to fix it when that is obvious, ``kind`` is a short machine
    readable category used in the JSON error line. ``param`` is the API parameter the
    error is about (``focus``, ``layer``, ``max_weights_mb``, ``text``), when there is
    one; ``where`` defaults to that parameter as the caller names it (:func:`option`).
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
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.where = where if where is not None or param is None else option(param)
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
