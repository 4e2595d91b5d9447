"""The option groups of the commands that run attention (run, compare, explain), added by one decorator.

    @app.command("run")
    @attention_command
    def run(text: str, *, opts: CommandOptions): ...

is ``@measure_options @output_options @model_options @attention_options`` (the same options, in the same
order in ``--help``), handing the command one :class:`CommandOptions` instead of four objects.
"""

from __future__ import annotations

import functools
import inspect
from typing import Callable, NamedTuple

from attncli.cli.measure_options import MeasureOptions, measure_options
from attncli.cli.options import (
    AttentionOptions, ModelOptions, OutputOptions, attention_options, model_options, output_options,
)


class CommandOptions(NamedTuple):
    """The four groups, unpacked as ``attn, mdl, out, msr = opts``."""

    attn: AttentionOptions
    mdl: ModelOptions
    out: OutputOptions
    msr: MeasureOptions


def attention_command(func: Callable) -> Callable:
    """Replace ``func``'s keyword-only ``opts`` with the options of the four groups."""
    signature = inspect.signature(func, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.name != "opts"]
    groups = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY) for name in CommandOptions._fields]

    @functools.wraps(func)
    def grouped(*args, attn, mdl, out, msr, **kwargs):
        return func(*args, opts=CommandOptions(attn, mdl, out, msr), **kwargs)

    grouped.__signature__ = signature.replace(parameters=kept + groups)
    del grouped.__wrapped__
    return measure_options(output_options(model_options(attention_options(grouped))))
