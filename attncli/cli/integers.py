"""Every integer option and argument parses through :func:`attncli.core.numbers.parse_int`.

Typer converts an ``int`` option with Python's ``int()``-like coercion, which takes other
scripts' digits and numbers of any length. :func:`require_ascii_integers` is applied to the
app when it runs (as the nan/inf check on floats is): it wraps each integer parameter so
that its text goes through the one grammar first (ASCII digits, at most 64 bits), and the
refusal is the same line for every option.
"""

from __future__ import annotations

from typing import Any

from attncli.core.numbers import parse_int


def _where(param: Any) -> str:
    if getattr(param, "param_type_name", "") == "option" and getattr(param, "opts", None):
        return max(param.opts, key=len)
    return str(getattr(param, "metavar", None) or getattr(param, "name", "") or "").upper()


def integer_param(param: Any) -> bool:
    """Whether ``param`` is declared ``int`` (or ``Optional[int]``, ``list[int]``)."""
    return getattr(getattr(param, "type_descriptor", None), "annotation", None) is int


def _wrap(param: Any) -> None:
    original = param.process_value

    def process_value(ctx, value):
        where = _where(param)
        if isinstance(value, str):
            value = parse_int(value, where)
        elif isinstance(value, (list, tuple)):
            value = type(value)(parse_int(v, where) if isinstance(v, str) else v for v in value)
        return original(ctx, value)

    process_value.attncli_ascii = True
    param.process_value = process_value


def require_ascii_integers(command: Any) -> None:
    """Wrap every integer parameter of ``command`` and its subcommands (once)."""
    for param in getattr(command, "params", ()):
        if integer_param(param) and not getattr(param.process_value, "attncli_ascii", False):
            _wrap(param)
    for sub in getattr(command, "commands", {}).values():
        require_ascii_integers(sub)
