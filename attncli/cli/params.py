"""API parameter -> command-line option: the one place that spells the options in messages.

Code outside attncli.cli names parameters as the Python API does (``max_weights_mb``, ``text``;
:func:`attncli.errors.option`). While a command runs, the boundary (:class:`attncli.cli.boundary.AttnGroup`)
installs :class:`CommandLineNaming`, so the same error reads ``--max-weights-mb: ...`` on the command
line and ``max_weights_mb: ...`` in a notebook.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from attncli.errors import Naming, parameter_naming

#: Parameters whose flag is not ``--`` + the name with dashes (the positional arguments, the switches).
FLAGS = {
    "text": "TEXT",
    "texts": "TEXTS",
    "name": "NAME",
    "causal": "--causal/--no-causal",
    "scale": "--scale/--no-scale",
}


def flag(param: str) -> str:
    """``max_weights_mb`` -> ``--max-weights-mb``; ``text`` -> ``TEXT``; ``causal`` -> ``--causal/--no-causal``."""
    return FLAGS.get(param) or "--" + param.replace("_", "-")


class CommandLineNaming(Naming):
    def option(self, param: str) -> str:
        return flag(param)

    def call(self, command: str, text: str) -> str:
        return f'attncli {command} "{text}"'

    def example(self, command: str, model: str | None = None) -> str:
        if model is not None:
            return f'e.g. attncli {command} --model {model} "the cat"'
        return f'give a text, e.g. attncli {command} "She ate the apple", or a tensors config'


def command_line_naming() -> AbstractContextManager:
    """Inside this block, messages name parameters by their flags."""
    return parameter_naming(CommandLineNaming())
