"""What every command shares: the option groups, the consoles and the error boundary.

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
import json
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from attncli.errors import AttnError, ExitCode

ATTENTION_PANEL = "Attention and device"
OUTPUT_PANEL = "Output"


def complete_config(incomplete: str) -> list[str]:
    """Shell completion for -c: bundled config names (files are completed by the shell)."""
    from attncli.config import bundled_names

    return [name for name in bundled_names() if name.startswith(incomplete)]


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

    def overrides(self) -> dict:
        """Key path -> (value, option name): what the command line sets over the config."""
        return {
            ("attention", "heads"): (self.heads, "--heads"),
            ("attention", "causal"): (self.causal, "--causal/--no-causal"),
            ("attention", "scale"): (self.scale, "--scale/--no-scale"),
            ("attention", "temperature"): (self.temperature, "--temperature"),
            ("attention", "positional"): (self.positional, "--positional"),
            ("attention", "projections"): (self.projections, "--projections"),
            ("attention", "d_k"): (self.d_k, "--d-k"),
            ("attention", "seed"): (self.seed, "--seed"),
            ("device",): (self.device, "--device"),
            ("dtype",): (self.dtype, "--dtype"),
        }

    def settings(self):
        from attncli.config import load_settings

        return load_settings(self.config, self.overrides())

    def model(self, settings=None):
        """Settings -> a model on its device (imports torch)."""
        from attncli.engine import DEFAULT_MAX_WEIGHTS_MB, build_model

        settings = settings or self.settings()
        if self.max_weights_mb is not None and self.max_weights_mb <= 0:
            raise AttnError(f"must be greater than 0, got {self.max_weights_mb:g}", where="--max-weights-mb")
        device_where = "--device" if self.device else ("device in " + (settings.source or "config")
                                                         if settings.source_kind != "defaults" else "--device")
        return build_model(settings, strict=self.strict,
                           max_weights_mb=self.max_weights_mb or DEFAULT_MAX_WEIGHTS_MB,
                           device_where=device_where)


ATTENTION_PARAMS: dict[str, tuple[Any, Any]] = {
    "config": (Optional[str], typer.Option(
        "--config", "-c", metavar="PATH_OR_NAME", rich_help_panel=ATTENTION_PANEL,
        help="YAML config file, or the name of a bundled config (attncli config list).",
        autocompletion=complete_config)),
    "heads": (Optional[int], typer.Option(
        "--heads", rich_help_panel=ATTENTION_PANEL, help="Number of heads (must divide the projected widths).")),
    "causal": (Optional[bool], typer.Option(
        "--causal/--no-causal", rich_help_panel=ATTENTION_PANEL, show_default=False,
        help="Let each token attend only to itself and earlier tokens.")),
    "scale": (Optional[bool], typer.Option(
        "--scale/--no-scale", rich_help_panel=ATTENTION_PANEL, show_default=False,
        help="Divide scores by sqrt(d_k) (--no-scale: raw dot products).")),
    "temperature": (Optional[float], typer.Option(
        "--temperature", "-t", rich_help_panel=ATTENTION_PANEL, help="Divide scores by this before the softmax.")),
    "positional": (Optional[str], typer.Option(
        "--positional", rich_help_panel=ATTENTION_PANEL, metavar="KIND",
        help="Positional encoding: none, sinusoidal or rope.")),
    "projections": (Optional[str], typer.Option(
        "--projections", rich_help_panel=ATTENTION_PANEL, metavar="KIND",
        help="Q/K/V projections: identity (Q = K = V = embeddings) or seeded random matrices.")),
    "d_k": (Optional[int], typer.Option(
        "--d-k", rich_help_panel=ATTENTION_PANEL, help="Projected query/key width for random projections.")),
    "seed": (Optional[int], typer.Option(
        "--seed", rich_help_panel=ATTENTION_PANEL, help="Seed for random projections (torch.manual_seed).")),
    "device": (Optional[str], typer.Option(
        "--device", rich_help_panel=ATTENTION_PANEL, metavar="DEVICE",
        help="auto, cpu, cuda, cuda:N or mps: where to compute (default cpu).")),
    "dtype": (Optional[str], typer.Option(
        "--dtype", rich_help_panel=ATTENTION_PANEL, metavar="DTYPE",
        help="float32, float64, float16 or bfloat16: floating point precision (default float32).")),
    "strict": (bool, typer.Option(
        "--strict", rich_help_panel=ATTENTION_PANEL, help="Refuse tokens that are not in the vocabulary.")),
    "max_weights_mb": (Optional[float], typer.Option(
        "--max-weights-mb", rich_help_panel=ATTENTION_PANEL, metavar="MB",
        help="Refuse runs whose attention matrices need more memory than this (default 256).")),
}


MODEL_PANEL = "Real models (pip install 'attncli[models]')"


@dataclass
class ModelOptions:
    model: Optional[str] = None
    layer: Optional[str] = None
    heads_mean: bool = False
    rollout: bool = False
    bos: Optional[bool] = None

    def check(self, attn: "AttentionOptions") -> None:
        """Toy-attention options make no sense with a real model; say so instead of ignoring them."""
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
        for option, value in (("--config", attn.config), ("--strict", attn.strict or None)):
            if value is not None:
                raise AttnError(f"{option} does not apply to a real model", where=option)

    def load(self, attn: "AttentionOptions"):
        from attncli.engine import resolve_device, resolve_dtype
        from attncli.models import Transformer

        device = resolve_device(attn.device or "cpu")
        dtype = resolve_dtype(attn.dtype or "float32")
        return Transformer(self.model, device=device, dtype=dtype, bos=self.bos)


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
        "--heads-mean", rich_help_panel=MODEL_PANEL, help="With --model: average the heads.")),
    "rollout": (bool, typer.Option(
        "--rollout", rich_help_panel=MODEL_PANEL,
        help="With --model: attention rollout across all layers (Abnar and Zuidema, 2020).")),
    "bos": (Optional[bool], typer.Option(
        "--bos/--no-bos", rich_help_panel=MODEL_PANEL, show_default=False,
        help="With --model: start with the model's BOS token, or not (default: what its tokenizer does).")),
}


@dataclass
class OutputOptions:
    json: bool = False
    save: Optional[Path] = None
    precision: Optional[int] = None
    debug: bool = False

    def check(self) -> None:
        if self.precision is not None and not 0 <= self.precision <= 17:
            raise AttnError(f"must be between 0 and 17, got {self.precision}", where="--precision")


OUTPUT_PARAMS: dict[str, tuple[Any, Any]] = {
    "json": (bool, typer.Option(
        "--json", rich_help_panel=OUTPUT_PANEL, help="Print one JSON document on stdout instead of the view.")),
    "save": (Optional[Path], typer.Option(
        "--save", rich_help_panel=OUTPUT_PANEL, metavar="PATH", dir_okay=False,
        help="Also write the view to a file: .svg, .html, .txt or .json.")),
    "precision": (Optional[int], typer.Option(
        "--precision", "-p", rich_help_panel=OUTPUT_PANEL, metavar="P",
        help="Decimals shown (and kept in JSON when given).")),
    "debug": (bool, typer.Option(
        "--debug", rich_help_panel=OUTPUT_PANEL, help="Show the Python traceback of errors.")),
}


@dataclass
class BasicOutputOptions:
    """--json and --debug, for commands whose output is not a view (config init/validate/list)."""

    json: bool = False
    debug: bool = False
    save = None
    precision = None

    def check(self) -> None:
        pass


def _option_group(target: str, cls: type, params: dict[str, tuple[Any, Any]]) -> Callable:
    names = [f.name for f in fields(cls)]

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


# --------------------------------------------------------------------------- consoles and errors


def stdout_console(**kwargs):
    """Data goes here. Rich turns color off when stdout is not a terminal, and honours NO_COLOR."""
    from rich.console import Console

    return Console(highlight=False, **kwargs)


#: The stderr console of a progress bar on screen: messages print above the bar through it.
LIVE_CONSOLE = None


def stderr_console():
    if LIVE_CONSOLE is not None:
        return LIVE_CONSOLE
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def write_json(text: str, *, flush: bool = True) -> None:
    sys.stdout.write(text + "\n")
    if flush:
        sys.stdout.flush()


class Flusher:
    """Flush the first record at once, then at most every ``interval`` seconds (JSON Lines)."""

    def __init__(self, interval: float = 0.05) -> None:
        import time

        self.clock = time.monotonic
        self.interval = interval
        self.last: float | None = None

    def __call__(self) -> bool:
        now = self.clock()
        if self.last is None or now - self.last >= self.interval:
            self.last = now
            return True
        return False


def emit(doc: Any, out: "OutputOptions", make_view: Callable[[int], Any]) -> None:
    """The one way every command prints: the JSON document, or the view; and ``--save``.

    ``make_view(width)`` builds the Rich view; it is only called when the view is needed.
    """
    from attncli.result import dumps

    text = dumps(doc)
    renderable = None
    console = stdout_console()
    if not out.json or (out.save is not None and out.save.suffix.lower() != ".json"):
        renderable = make_view(console.width)
    if out.json:
        write_json(text)
    else:
        console.print(renderable)
    if out.save is not None:
        from attncli.render.export import render_to

        render_to(out.save, renderable, text)


def report(error: AttnError, *, as_json: bool) -> None:
    """One line (and any further problems) on stderr; with --json also a JSON object line."""
    from rich.markup import escape

    console = stderr_console()
    console.print(f"[bold red]attncli: error:[/] {escape(error.line())}", soft_wrap=True)
    for extra in error.details[:20]:
        console.print(f"  {escape(extra)}", soft_wrap=True)
    if len(error.details) > 20:
        console.print(f"  ... and {len(error.details) - 20} more problems", soft_wrap=True)
    if as_json:
        sys.stderr.write(json.dumps({"error": error.to_dict()}, ensure_ascii=False) + "\n")
        sys.stderr.flush()


def warn(message: str, *, as_json: bool = False, kind: str = "warning") -> None:
    from rich.markup import escape

    stderr_console().print(f"[yellow]attncli: warning:[/] {escape(message)}", soft_wrap=True)
    if as_json:
        sys.stderr.write(json.dumps({"warning": {"kind": kind, "message": message}}, ensure_ascii=False) + "\n")


def guarded(out: OutputOptions, body: Callable[[], Any]) -> Any:
    """Run a command body: user errors become one line and an exit status, never a traceback."""
    try:
        out.check()
        return body()
    except AttnError as error:
        if out.debug:
            stderr_console().print_exception()
        report(error, as_json=out.json)
        raise typer.Exit(int(error.code)) from None
    except typer.Exit:
        raise
    except BrokenPipeError:
        # The reader went away (| head -1): stop quietly, and keep Python from complaining at exit.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(int(ExitCode.OK)) from None
    except KeyboardInterrupt:
        stderr_console().print("attncli: interrupted")
        raise typer.Exit(130) from None
    except MemoryError:
        report(AttnError("out of memory", kind="memory", code=ExitCode.FAILURE,
                         hint="use a shorter input or a smaller --max-weights-mb"), as_json=out.json)
        raise typer.Exit(int(ExitCode.FAILURE)) from None
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if out.debug:
            stderr_console().print_exception()
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "out of memory" in text.lower():
            error = AttnError(f"out of memory: {text}", kind="memory", code=ExitCode.FAILURE,
                              hint="use a shorter input, --dtype bfloat16, or --device cpu")
        else:
            error = AttnError(f"internal error: {type(exc).__name__}: {text}", kind="internal",
                              code=ExitCode.FAILURE, hint=None if out.debug else "run again with --debug for details")
        report(error, as_json=out.json)
        raise typer.Exit(int(ExitCode.FAILURE)) from None


def parse_include(values: list[str], choices: tuple[str, ...]) -> set[str]:
    out: set[str] = set()
    for value in values:
        for part in value.split(","):
            part = part.strip().lower()
            if not part:
                continue
            if part not in choices:
                raise AttnError(f"unknown value {part!r}", where="--include",
                                hint="expected one of " + ", ".join(choices))
            out.add(part)
    return out
