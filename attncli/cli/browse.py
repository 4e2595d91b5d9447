"""attncli browse: explore attention interactively in the terminal (needs the tui extra)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from attncli.cli.groups import CommandOptions, attention_command
from attncli.cli.options import AttentionOptions, ModelOptions, OutputOptions, check_color_scale, color_scale_option
from attncli.cli.row_options import RowOptions, row_options
from attncli.cli.measure_options import MeasureOptions, PassProgress
from attncli.cli.boundary import guarded
from attncli.cli.generation_options import GenerationOptions, check_attention, generation_options
from attncli.cli.output import Environment
from attncli.errors import AttnError
from attncli.core.numbers import plural

app = typer.Typer()

#: --compare puts the texts side by side; more than this many would not fit.
MAX_PANES = 4


GENERATE_PANEL = "Generation (with --generate PROMPT)"
#: -t/--temperature and --seed are the toy-attention options here, and --generate's sampling takes them.
SAMPLING_FROM_ATTENTION = ("temperature", "seed")


@app.command("browse")
@row_options("focus", "rows", command="browse")
@attention_command
@generation_options(GENERATE_PANEL, without=SAMPLING_FROM_ATTENTION)
def browse(
    texts: Annotated[Optional[list[str]], typer.Argument(
        metavar="TEXT",
        help="The text to explore (with --compare: two or more). Leave it out with --file, or for a tensors config.",
        show_default=False)] = None,
    compare: Annotated[bool, typer.Option(
        "--compare", rich_help_panel="Input", help="Show the texts side by side, their cursors on the same word.")] = False,
    file: Annotated[Optional[str], typer.Option(
        "--file", "-f", metavar="PATH", rich_help_panel="Input",
        help="Step through the non-empty lines of a file (n and p); '-' is not possible: browse needs the terminal.")] = None,
    join: Annotated[bool, typer.Option(
        "--join", metavar=" ", rich_help_panel="Input", help="With --file: the whole file is one text.")] = False,
    head: Annotated[Optional[int], typer.Option(
        "--head", rich_help_panel="Output",
        help="The head to open on (0-based; default 0, with --generate the mean of heads).")] = None,
    color_scale: Annotated[Optional[str], color_scale_option()] = None,
    generate: Annotated[Optional[str], typer.Option(
        "--generate", metavar="PROMPT", rich_help_panel=GENERATE_PANEL,
        help="With --model (a decoder, or an encoder-decoder model that reads PROMPT as its source): write as "
             "attncli generate does, then step through the tokens written with n and p (a: self- or "
             "cross-attention). -t/--temperature and --seed are then the sampling's.")] = None,
    *,
    rows: RowOptions,
    gen: GenerationOptions,
    opts: CommandOptions,
) -> None:
    """Explore attention in a full-screen terminal app: move across tokens, heads and layers.

    Keys: arrows or h/j/k/l, [ and ] for layers, w measure, g grid, m mean, r rollout, c scores, x color scale, / find, s save SVG, e save JSON, ? every key, q quit; with --generate, n and p step, a self/cross-attention (encoder-decoder models).

    Examples:

      attncli browse "The cat sat on the mat because it was soft"

      attncli browse --model minilm "The cat sat on the mat because it was soft"

      attncli browse --compare -c bank "stream bank mud" "money bank loan"

      attncli browse --model smollm2 --measure norm "The cat sat on the mat because it was soft"

      attncli browse --model smollm2 --generate "The capital of France is" -n 8
    """
    attn, mdl, out, msr = opts
    focus, rows = rows.focus, rows.rows
    if generate is not None:
        from attncli.cli.generate import GenerateOptions

        options = GenerateOptions(model=mdl.model or "", **{**gen.values(), "temperature": attn.temperature,
                                                             "seed": attn.seed},
                                  layer=mdl.layer, head=head, bos=mdl.bos, device=attn.device, dtype=attn.dtype)
        guarded(out, lambda env: _browse_generation(env, generate, options, texts or [], compare, file, focus, attn,
                                                    mdl, out, msr, color_scale, join or rows is not None))
        return
    given = gen.given(without=SAMPLING_FROM_ATTENTION)
    guarded(out, lambda env: _browse(env, texts or [], compare, file, head, focus, attn, mdl, out, color_scale, msr,
                                     given, join, rows))


def _browse(env: Environment, texts, compare, file, head, focus, attn: AttentionOptions, mdl: ModelOptions,
            out: OutputOptions, color_scale: str | None = None, msr: MeasureOptions | None = None,
            generation_only: list[str] = (), join: bool = False, rows: str | None = None) -> None:
    msr = msr or MeasureOptions()
    color_scale = check_color_scale(color_scale)  # a usage error before anything else
    if generation_only:
        name = generation_only[0]
        raise AttnError(f"{name} goes with --generate", where=name,
                        hint='e.g. attncli browse --model smollm2 --generate "The capital of France is"')
    head = 0 if head is None else head
    if join and file is None:
        raise AttnError("--join goes with --file", where="--join")
    if rows is not None and mdl.model is None:
        raise AttnError("--rows goes with --model (toy attention shows every row)", where="--rows",
                        hint="use --focus INDEX to open on a row")
    _can_open(out, "use attncli run for printed output; in the browser e writes JSON and s an SVG")
    if file is not None and not texts and file != "-":
        _need_terminal(env)  # before reading the file: /dev/urandom is not read only to be refused
    items, skipped = _inputs(texts, compare, file, join)
    if compare and len(items) > MAX_PANES:
        raise AttnError(f"--compare shows at most {MAX_PANES} texts side by side, got {len(items)}", where="TEXTS")
    mdl.check(attn)
    measure = msr.check(mdl, rollout=mdl.rollout)
    if not items and (mdl.model is not None or attn.config is None):
        from attncli.core.record import no_text

        raise no_text("browse", model=mdl.model)  # before anything loads
    _need_terminal(env)
    if head < 0:
        raise AttnError(f"must be 0 or more, got {head}", where="--head")
    from attncli.browse import window
    from attncli.core.record import check_head, parse_layer

    runner = mdl.runner(attn)
    kwargs = {k: v for k, v in msr.run_kwargs(runner, mdl).items() if k not in ("measure", "layers", "progress")}
    loaded = window.load(items, runner, measure=measure, run_kwargs=kwargs, progress=PassProgress(), rows=rows,
                         focus=focus, rollout=mdl.rollout)  # a long text: a window of rows (browse/data.py else)
    loaded.notes[:0] = skipped  # the --file lines that did not read, shown when the app opens
    check_head(head, loaded.heads, loaded.model)
    layer, grid = None, False
    if mdl.model is not None and mdl.layer is not None:
        chosen = parse_layer(mdl.layer, loaded.layers)
        layer, grid = (chosen[0], False) if len(chosen) == 1 else (loaded.layers - 1, True)
    mode = "rollout" if mdl.rollout else ("mean" if mdl.heads_mean else "head")

    from attncli.browse.app import BrowseApp

    if mode == "mean" and loaded.lines[0].measure != "weights" and loaded.lines[0].level is None:
        mode = "head"  # a measure of the whole layer: no heads to average
    browser = BrowseApp(loaded, compare=compare, precision=out.precision, layer=layer, head=head, mode=mode,
                        color_scale=color_scale)
    browser.state.grid = grid
    if focus is not None:
        from attncli.core import focus as focus_grammar

        tokens = loaded.lines[0].raw or loaded.lines[0].tokens
        spec = focus_grammar.parse(focus)  # ASCII digits only, the one integer grammar
        hit = focus_grammar.hits(spec, tokens, every=False)[0]
        note = focus_grammar.describe(spec, hit, tokens)
        if note:
            env.warn(note)
        browser.state.set_query(0, hit.index - loaded.lines[0].offset)  # a window's rows count from its first
    _open(env, browser)


def _can_open(out: OutputOptions, hint: str) -> None:
    """Textual is there, and nothing is to be printed (``hint``: what prints it instead)."""
    from attncli.browse import TUI_HINT

    if importlib.util.find_spec("textual") is None:
        raise AttnError("browse needs Textual, which is not installed", where="browse", kind="dependency",
                        hint=f"install the tui extra: {TUI_HINT}")
    if out.json or out.save is not None:
        raise AttnError("browse is interactive and prints nothing", where="--json" if out.json else "--save", hint=hint)


def _open(env: Environment, browser) -> None:
    with _drawing_on_the_terminal(env):
        browser.run()
    for path in browser.saved:
        env.note_saved(Path(path))


def _browse_generation(env: Environment, prompt: str, options, texts, compare, file, focus, attn: AttentionOptions,
                       mdl: ModelOptions, out: OutputOptions, msr: MeasureOptions, color_scale: str | None,
                       windowed: bool = False) -> None:
    """browse --generate: the checks of attncli generate (all before the model loads, but the decoder's),
    the library's generation, then the app on its steps."""
    import dataclasses

    color_scale = check_color_scale(color_scale)
    for name, given in (("TEXT", bool(texts)), ("--file", file is not None), ("--compare", compare),
                        ("--focus", focus is not None), ("--rollout", mdl.rollout),
                        ("--measure", msr.measure is not None), ("--ablate", msr.ablate is not None),
                        ("--max-passes", msr.max_passes is not None), ("--join/--rows", windowed)):
        if given:
            raise AttnError(f"{name} does not go with --generate (it browses the tokens a decoder writes, "
                            "under their attention weights)", where=name)
    if mdl.model is None:
        raise AttnError("--generate needs --model, a decoder or an encoder-decoder model to write with",
                        where="--generate",
                        hint='e.g. attncli browse --model smollm2 --generate "The capital of France is"')
    mdl.check(dataclasses.replace(attn, temperature=None, seed=None))  # those two are the sampling's here
    options.check()
    _can_open(out, "attncli generate prints the view and --json the document; in the browser e and s write them")
    if options.head is not None and options.head < 0:
        raise AttnError(f"must be 0 or more, got {options.head}", where="--head")
    _need_terminal(env)
    from attncli.browse.generated import default_scale, load_generation
    from attncli.core.record import check_head, parse_layer
    from attncli.models import generation, seq2seq

    transformer = options.load()
    generation.check_decoder(transformer)
    check_attention(transformer, options.attention)
    total, heads = seq2seq.decoder_shape(transformer)
    chosen = parse_layer(options.layer, total)
    check_head(options.head, heads, transformer.name)
    result = generation.generate(transformer, prompt, sampling=options.sampling(),
                                 max_new_tokens=options.max_new_tokens, layers=None, alternatives=options.alternatives,
                                 target=options.target, chat=options.chat, system=options.system)
    loaded = load_generation(result)
    from attncli.browse.app import BrowseApp

    mode = "head" if options.head is not None else "mean"
    shown = 1 if options.attention == "cross" else 0  # an encoder-decoder model's lines: self, cross
    browser = BrowseApp(loaded, precision=out.precision, layer=chosen[-1], head=options.head or 0, mode=mode,
                        query=len(result.steps) - 1, color_scale=color_scale)
    browser.state.line = shown
    browser.state.color_scale = color_scale or default_scale(loaded.lines[shown])
    browser.state.grid = len(chosen) > 1
    _open(env, browser)


@contextlib.contextmanager
def _drawing_on_the_terminal(env: Environment):
    """Textual draws on file descriptor 2: with stderr elsewhere (``2>log``) it is pointed at
    stdout's terminal while the app runs, so the app is on the screen and the log gets no escapes."""
    try:
        if os.isatty(2):
            yield
            return
        terminal = env.stdout.fileno()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        yield
        return
    with contextlib.suppress(OSError, ValueError):
        sys.__stderr__.flush()
    os.dup2(terminal, 2)
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.__stderr__.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _isatty(stream) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _need_terminal(env: Environment) -> None:
    if not (_isatty(env.stdout) and _isatty(env.stdin)):
        raise AttnError("browse needs a terminal (stdout or stdin is not a TTY)", where="browse",
                        hint="attncli run prints the same views, and run --json the numbers")


def _inputs(texts: list[str], compare: bool, file: str | None,
            join: bool = False) -> tuple[list[tuple[str, str]], list[str]]:
    """(label, text) pairs from the arguments or the file (``join``: the whole file one text), and a note per
    --file line skipped."""
    if file is not None:
        if texts:
            raise AttnError("give a TEXT or --file, not both", where="--file")
        if file == "-":
            raise AttnError("browse reads the terminal, so it cannot read stdin", where="--file -",
                            hint="save the lines to a file and give its path")
        if join:
            if compare:
                raise AttnError("--compare needs two texts or more; --join makes the file one", where="--join")
            from attncli.cli.lines import join_lines

            return [(file, join_lines(file))], []
        from attncli.cli.lines import browse_lines

        lines, skipped = browse_lines(file)  # bounded; a line that does not read is skipped with a note
        if not lines:
            raise AttnError("the file holds no text", where=file, kind="text")
        if compare and len(lines) < 2:
            raise AttnError("--compare needs at least two lines", where=file)
        return [(f"{file}:{number}", line) for number, line in lines], skipped
    if compare:
        if len(texts) < 2:
            raise AttnError(f"--compare needs at least two texts, got {len(texts)}", where="TEXTS",
                            hint='e.g. attncli browse --compare "stream bank mud" "money bank loan"')
        return [(f"context {i}: {text}", text) for i, text in enumerate(texts, start=1)], []
    if len(texts) > 1:
        raise AttnError(f"got {plural(len(texts), 'text')}: give one TEXT, or --compare TEXT_A TEXT_B", where="TEXTS",
                        hint="quote a text that has spaces")
    return ([("TEXT", texts[0])] if texts else []), []
