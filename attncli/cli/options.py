"""The option groups every command shares, parsed once.

Option groups are added by decorators (as sqlite-utils and llm do), so ``--json``
or ``--device`` mean the same thing in every command:

    @app.command()
    @output_options
    @attention_options
    def run(text: str, *, attn: AttentionOptions, out: OutputOptions): ...

The decorator removes ``attn`` / ``out`` from the signature Typer sees, adds the
group's options in their place, and hands the command one object per group.
"""

from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from attncli.errors import AttnError

ATTENTION_PANEL = "Attention and device"
OUTPUT_PANEL = "Output"


def complete_config(incomplete: str) -> list[str]:
    """Shell completion for -c: bundled config names (files are completed by the shell)."""
    from attncli.config import bundled_names

    return [name for name in bundled_names() if name.startswith(incomplete)]


def choices(*values: str) -> Callable[[str], list[str]]:
    """Shell completion for an option with fixed choices."""
    return lambda incomplete: [v for v in values if v.startswith(incomplete)]


def finite(value: float | None, where: str, *, positive: bool = False) -> float | None:
    """A number option: finite (no nan, no inf), and > 0 when ``positive``."""
    if value is None:
        return None
    if not math.isfinite(value):
        raise AttnError(f"must be a finite number, got {value}", where=where)
    if positive and value <= 0:
        raise AttnError(f"must be greater than 0, got {value:g}", where=where)
    return value


# --------------------------------------------------------------------------- option groups


@dataclass
class AttentionOptions:
    config: Optional[str] = None
    heads: Optional[int] = None
    causal: Optional[bool] = None
    scale: Optional[bool] = None
    temperature: Optional[float] = None
    positional: Optional[str] = None
    projections: Optional[str] = None
    d_k: Optional[int] = None
    seed: Optional[int] = None
    device: Optional[str] = None
    dtype: Optional[str] = None
    strict: bool = False
    max_weights_mb: Optional[float] = None
    max_scores: Optional[int] = None

    def values(self) -> dict:
        """The settings as the API's keyword arguments (None: not given on the command line)."""
        from attncli.api import SETTINGS

        return {name: getattr(self, name) for name in SETTINGS}

    def overrides(self) -> dict:
        """Key path -> (value, option name): what the command line sets over the config."""
        from attncli.api import SETTINGS
        from attncli.cli.params import flag

        return {SETTINGS[name]: (value, flag(name)) for name, value in self.values().items()}

    def settings(self):
        """The config with the options over it (attncli.load_config)."""
        from attncli.api import load_config

        return load_config(self.config, max_weights_mb=self.max_weights_mb, **self.values())

    def toy(self, settings=None):
        """Settings -> toy attention on its device (imports torch)."""
        from attncli.core import toy

        settings = settings or self.settings()
        finite(self.max_weights_mb, "--max-weights-mb", positive=True)
        if self.max_scores is not None and self.max_scores < 1:
            raise AttnError(f"must be at least 1, got {self.max_scores}", where="--max-scores")
        return toy.build(settings, strict=self.strict,
                         max_weights_mb=self.max_weights_mb or toy.DEFAULT_MAX_WEIGHTS_MB,
                         device_given=self.device is not None, max_scores=self.max_scores or toy.DEFAULT_MAX_SCORES)


ATTENTION_PARAMS: dict[str, tuple[Any, Any]] = {
    "config": (Optional[str], typer.Option(
        "--config", "-c", metavar="PATH_OR_NAME", rich_help_panel=ATTENTION_PANEL,
        help="YAML config file, or the name of a bundled config (attncli config list).",
        autocompletion=complete_config)),
    "heads": (Optional[int], typer.Option(
        "--heads", rich_help_panel=ATTENTION_PANEL, help="Number of heads (must divide the projected widths).")),
    "causal": (Optional[bool], typer.Option(
        "--causal/--no-causal", metavar=" ", rich_help_panel=ATTENTION_PANEL, show_default=False,
        help="Let each token attend only to itself and earlier tokens.")),
    "scale": (Optional[bool], typer.Option(
        "--scale/--no-scale", metavar=" ", rich_help_panel=ATTENTION_PANEL, show_default=False,
        help="Divide scores by sqrt(d_k) (--no-scale: raw dot products).")),
    "temperature": (Optional[float], typer.Option(
        "--temperature", "-t", rich_help_panel=ATTENTION_PANEL, help="Divide scores by this before the softmax.")),
    "positional": (Optional[str], typer.Option(
        "--positional", rich_help_panel=ATTENTION_PANEL, metavar="KIND",
        autocompletion=choices("none", "sinusoidal", "rope"),
        help="Positional encoding: none, sinusoidal or rope.")),
    "projections": (Optional[str], typer.Option(
        "--projections", rich_help_panel=ATTENTION_PANEL, metavar="KIND", autocompletion=choices("identity", "random"),
        help="Q/K/V projections: identity (Q = K = V = embeddings) or seeded random matrices.")),
    "d_k": (Optional[int], typer.Option(
        "--d-k", rich_help_panel=ATTENTION_PANEL, help="Projected query/key width for random projections.")),
    "seed": (Optional[int], typer.Option(
        "--seed", rich_help_panel=ATTENTION_PANEL, help="Seed for random projections (torch.manual_seed).")),
    "device": (Optional[str], typer.Option(
        "--device", rich_help_panel=ATTENTION_PANEL, metavar="DEVICE",
        autocompletion=choices("auto", "cpu", "cuda", "cuda:0", "mps"),
        help="auto, cpu, cuda, cuda:N or mps: where to compute (default cpu).")),
    "dtype": (Optional[str], typer.Option(
        "--dtype", rich_help_panel=ATTENTION_PANEL, metavar="DTYPE",
        autocompletion=choices("float32", "float64", "float16", "bfloat16", "fp16", "bf16", "half", "double"),
        help="float32, float64, float16 or bfloat16 (aliases fp16, half, bf16, fp32, double): floating point "
             "precision (default float32).")),
    "strict": (bool, typer.Option(
        "--strict", metavar=" ", rich_help_panel=ATTENTION_PANEL, help="Refuse tokens that are not in the vocabulary.")),
    "max_weights_mb": (Optional[float], typer.Option(
        "--max-weights-mb", rich_help_panel=ATTENTION_PANEL, metavar="MB",
        help="Memory budget in MiB (default 256), for the attention matrices and, separately, for the "
             "tensors the settings imply (projection matrices, embeddings).")),
    "max_scores": (Optional[int], typer.Option(
        "--max-scores", rich_help_panel=ATTENTION_PANEL, metavar="N",
        help="Work budget of toy attention: the most scores (queries x keys x heads) one text computes "
             "(default 1_000_000_000; docs/limits.md).")),
}


MODEL_PANEL = "Real models (pip install 'attncli\\[models]')"


@dataclass
class ModelOptions:
    model: Optional[str] = None
    layer: Optional[str] = None
    heads_mean: bool = False
    rollout: bool = False
    bos: Optional[bool] = None

    def check(self, attn: "AttentionOptions") -> None:
        """Toy-attention options make no sense with a real model; say so instead of ignoring them."""
        if self.layer is not None and self.layer.strip().lower() != "all":  # its grammar, before any model loads
            from attncli.core.numbers import LAYER_GRAMMAR, parse_int

            parse_int(self.layer, "--layer", what=LAYER_GRAMMAR)
        if self.model is None:
            for name, value in (("--layer", self.layer), ("--heads-mean", self.heads_mean or None),
                                ("--rollout", self.rollout or None), ("--bos/--no-bos", self.bos)):
                if value is not None:
                    raise AttnError(f"{name} goes with --model", where=name, hint="e.g. --model minilm")
            return
        for path, (value, option) in attn.overrides().items():
            if value is not None and path not in (("device",), ("dtype",)):
                raise AttnError(f"{option} does not apply to a real model", where=option,
                                hint="a model has its own heads, scaling and projections")
        for option, value in (("--config", attn.config), ("--strict", attn.strict or None),
                              ("--max-scores", attn.max_scores)):
            if value is not None:
                raise AttnError(f"{option} does not apply to a real model", where=option)

    def load(self, attn: "AttentionOptions"):
        """The model, loaded once (attncli.load_model; imports torch and transformers)."""
        from attncli.api import load_model

        return load_model(self.model, device=attn.device or "cpu", dtype=attn.dtype or "float32",
                          bos=self.bos).engine

    def runner(self, attn: "AttentionOptions"):
        """Whatever makes the records: the model when --model is given, else toy attention."""
        self.check(attn)
        return self.load(attn) if self.model is not None else attn.toy()


def complete_model(incomplete: str) -> list[str]:
    from attncli.models import PACKAGED

    return [name for name in PACKAGED if name.startswith(incomplete)]


MODEL_PARAMS: dict[str, tuple[Any, Any]] = {
    "model": (Optional[str], typer.Option(
        "--model", "-m", metavar="NAME|PATH", rich_help_panel=MODEL_PANEL, autocompletion=complete_model,
        help="A real model instead of toy attention: minilm or smollm2 (packaged; smollm2 is 4-bit quantized "
             "weights, dequantized), or a local Hugging Face model folder.")),
    "layer": (Optional[str], typer.Option(
        "--layer", "-l", metavar="L|all", rich_help_panel=MODEL_PANEL,
        help="With --model: the layer (0-based, -1 the last; default the last), or all.")),
    "heads_mean": (bool, typer.Option(
        "--heads-mean", metavar=" ", rich_help_panel=MODEL_PANEL, help="With --model: average the heads.")),
    "rollout": (bool, typer.Option(
        "--rollout", metavar=" ", rich_help_panel=MODEL_PANEL,
        help="With --model: attention rollout across all layers (Abnar and Zuidema, 2020).")),
    "bos": (Optional[bool], typer.Option(
        "--bos/--no-bos", metavar=" ", rich_help_panel=MODEL_PANEL, show_default=False,
        help="With --model: put the model's beginning-of-sequence token first, or not "
             "(default: what its tokenizer does).")),
}


@dataclass
class OutputOptions:
    json: bool = False
    save: Optional[Path] = None
    precision: Optional[int] = None
    debug: bool = False
    color: Optional[bool] = None

    def check(self, env=None) -> None:
        if self.precision is not None and not 0 <= self.precision <= 17:
            raise AttnError(f"must be between 0 and 17, got {self.precision}", where="--precision")
        if self.save is not None:
            from attncli.cli.output import check_save

            check_save(self.save, env)


OUTPUT_PARAMS: dict[str, tuple[Any, Any]] = {
    "json": (bool, typer.Option(
        "--json", metavar=" ", rich_help_panel=OUTPUT_PANEL, help="Print one JSON document on stdout instead of the view.")),
    "save": (Optional[Path], typer.Option(
        "--save", rich_help_panel=OUTPUT_PANEL, metavar="PATH", dir_okay=False,
        help="Also write the view to a file: .svg, .html, .txt, .json or .jsonl.")),
    "precision": (Optional[int], typer.Option(
        "--precision", "-p", rich_help_panel=OUTPUT_PANEL, metavar="P",
        help="Decimals shown (and kept in JSON when given).")),
    "debug": (bool, typer.Option(
        "--debug", metavar=" ", rich_help_panel=OUTPUT_PANEL, help="Show the Python traceback of errors.")),
    "color": (Optional[bool], typer.Option(
        "--color/--no-color", metavar=" ", rich_help_panel=OUTPUT_PANEL, show_default=False,
        help="Color the view even through a pipe (truecolor unless COLORTERM or TERM say less), or never "
             "(default: on a terminal, unless NO_COLOR is set).")),
}


COLOR_SCALES = ("matrix", "row", "keys")


def color_scale_option() -> Any:
    """``--color-scale``: how a view's colors span its weights (run, compare, explain, browse)."""
    return typer.Option(
        "--color-scale", metavar="matrix|row|keys", rich_help_panel=OUTPUT_PANEL,
        autocompletion=choices(*COLOR_SCALES), show_default=False,
        help="Colors from the smallest to the largest weight of the whole matrix, of each row, or of every key "
             "but the first (default: keys for causal attention, whose first token takes the most weight; "
             "matrix otherwise).")


def check_color_scale(value: str | None) -> str | None:
    if value is None:
        return None
    name = value.strip().lower()
    if name not in COLOR_SCALES:
        raise AttnError(f"unknown color scale {value!r}", where="--color-scale", hint="expected matrix, row or keys")
    return name


@dataclass
class BasicOutputOptions:
    """--json and --debug, for commands whose output is not a view (config init/validate/list)."""

    json: bool = False
    debug: bool = False
    save = None
    precision = None

    def check(self, env=None) -> None:
        pass


def _option_group(target: str, cls: type, params: dict[str, tuple[Any, Any]]) -> Callable:
    names = [f.name for f in fields(cls) if f.name in params]  # a field the table leaves out keeps its default

    def decorator(func: Callable) -> Callable:
        signature = inspect.signature(func, eval_str=True)
        kept = [p for p in signature.parameters.values() if p.name != target]
        added = [
            inspect.Parameter(f"{target}_{name}", inspect.Parameter.KEYWORD_ONLY,
                              annotation=Annotated[params[name][0], params[name][1]],
                              default=getattr(cls(), name))
            for name in names
        ]

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            values = {name: kwargs.pop(f"{target}_{name}") for name in names}
            kwargs[target] = cls(**values)
            return func(*args, **kwargs)

        # Keyword-only parameters must follow the positional ones.
        positional = [p for p in kept if p.kind != inspect.Parameter.KEYWORD_ONLY]
        keyword = [p for p in kept if p.kind == inspect.Parameter.KEYWORD_ONLY]
        wrapper.__signature__ = signature.replace(parameters=positional + keyword + added)
        wrapper.__annotations__ = {p.name: p.annotation for p in positional + keyword + added}
        del wrapper.__wrapped__
        return wrapper

    return decorator


attention_options = _option_group("attn", AttentionOptions, ATTENTION_PARAMS)
model_options = _option_group("mdl", ModelOptions, MODEL_PARAMS)
output_options = _option_group("out", OutputOptions, OUTPUT_PARAMS)
basic_output_options = _option_group("out", BasicOutputOptions,
                                     {k: OUTPUT_PARAMS[k] for k in ("json", "debug")})
