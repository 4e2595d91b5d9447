"""``-n/--max-new-tokens``, ``--sample``, ``-t/--temperature``, ``--top-k``, ``--top-p``, ``--seed``, ``--chat``,
``--system``, ``--target``, ``--alternatives``, ``--attention``: the options of a generation, declared once.

One option group (see attncli.cli.options and MEASURE_PARAMS in attncli.cli.measure_options) shared by
``attncli generate`` and ``browse --generate``, with the same help texts in both. Each command puts them
in its own panels (:func:`generation_params`); ``browse`` leaves ``-t/--temperature`` and ``--seed`` out
(``without``): there they are the toy-attention options of the same names, which ``--generate`` takes
as the sampling's.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Optional

import typer

from attncli.cli.options import _option_group, choices
from attncli.errors import AttnError

ATTENTIONS = ("self", "cross")


@dataclass
class GenerationOptions:
    """What the group's options hold (their defaults: a greedy generation of 32 tokens)."""

    max_new_tokens: int = 32
    sample: bool = False
    temperature: Optional[float] = None
    top_k: Optional[int] = None
    top_p: Optional[float] = None
    seed: Optional[int] = None
    chat: bool = False
    system: Optional[str] = None
    target: Optional[str] = None
    alternatives: int = 3
    attention: str = "self"

    def values(self) -> dict:
        """The options as GenerateOptions' keyword arguments."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def given(self, *, without: tuple[str, ...] = ()) -> list[str]:
        """The flags (``-n/--max-new-tokens``) of the options set away from their defaults (``without``: those
        the command does not have)."""
        default = GenerationOptions()
        params = generation_params("", without=without)
        return [flag_of(params[name][1]) for name in params if getattr(self, name) != getattr(default, name)]


def flag_of(info) -> str:
    """An option's flags as messages spell them: ``-n/--max-new-tokens``, ``--sample``. (In ``Annotated``,
    typer.Option's first name is held as its ``default``.)"""
    names = [info.default, *info.param_decls] if isinstance(info.default, str) else list(info.param_decls)
    return "/".join(sorted((n for n in names if n.startswith("-")), key=len))


def generation_params(panel: str, view_panel: str | None = None, *,
                      without: tuple[str, ...] = ()) -> dict[str, tuple[Any, Any]]:
    """The table of the group: name -> (type, typer.Option), decoding in ``panel``, what is shown in
    ``view_panel`` (default ``panel``); the names in ``without`` left out."""
    view_panel = view_panel or panel
    params: dict[str, tuple[Any, Any]] = {
        "max_new_tokens": (int, typer.Option(
            "--max-new-tokens", "-n", metavar="N", rich_help_panel=panel,
            help="Stop after N new tokens (or at the model's end-of-sequence token).")),
        "sample": (bool, typer.Option(
            "--sample", metavar=" ", rich_help_panel=panel, help="Sample instead of greedy decoding.")),
        "temperature": (Optional[float], typer.Option(
            "--temperature", "-t", metavar="T", rich_help_panel=panel, help="With --sample: divide the logits by T.")),
        "top_k": (Optional[int], typer.Option(
            "--top-k", metavar="K", rich_help_panel=panel, help="With --sample: draw from the K most likely tokens.")),
        "top_p": (Optional[float], typer.Option(
            "--top-p", metavar="P", rich_help_panel=panel,
            help="With --sample: draw from the most likely tokens that make up probability P (0 < P <= 1).")),
        "seed": (Optional[int], typer.Option(
            "--seed", metavar="S", rich_help_panel=panel,
            help="With --sample: the seed (the same seed, the same text).")),
        "chat": (bool, typer.Option(
            "--chat", metavar=" ", rich_help_panel=panel, help="Wrap the prompt in the tokenizer's chat template.")),
        "system": (Optional[str], typer.Option(
            "--system", metavar="TEXT", rich_help_panel=panel, help="With --chat: a system message first.")),
        "target": (Optional[str], typer.Option(
            "--target", metavar="TEXT", rich_help_panel=panel,
            help="Teacher forcing: score this continuation token by token instead of generating.")),
        "alternatives": (int, typer.Option(
            "--alternatives", metavar="K", rich_help_panel=view_panel, help="The K most likely tokens of each step.")),
        "attention": (str, typer.Option(
            "--attention", metavar="self|cross", rich_help_panel=view_panel, autocompletion=choices(*ATTENTIONS),
            help="Encoder-decoder models: the decoder's self-attention or its cross-attention to the source.")),
    }
    return {name: value for name, value in params.items() if name not in without}


def generation_options(panel: str, view_panel: str | None = None, *, without: tuple[str, ...] = ()):
    """The decorator that adds the group to a command, handed to it as ``gen: GenerationOptions``."""
    return _option_group("gen", GenerationOptions, generation_params(panel, view_panel, without=without))


def check_attention(transformer, attention: str) -> None:
    """``--attention cross`` needs an encoder-decoder model: a decoder only has no cross-attention (exit 2)."""
    if attention == "cross" and not getattr(transformer, "seq2seq", False):
        raise AttnError(f"{transformer.name} is a decoder only: it has no cross-attention", where="--attention",
                        hint="--attention cross goes with encoder-decoder models (T5, BART, Marian)")
