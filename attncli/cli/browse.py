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

from attncli.cli.options import (
    AttentionOptions, ModelOptions, OutputOptions, attention_options, check_color_scale, color_scale_option,
    model_options, output_options,
)
from attncli.cli.boundary import guarded
from attncli.cli.output import Environment
from attncli.errors import AttnError
from attncli.core.numbers import plural

app = typer.Typer()

#: --compare puts the texts side by side; more than this many would not fit.
MAX_PANES = 4


@app.command("browse")
@output_options
@model_options
@attention_options
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
    head: Annotated[int, typer.Option("--head", rich_help_panel="Output", help="The head to open on (0-based).")] = 0,
    focus: Annotated[Optional[str], typer.Option(
        "--focus", metavar="TOKEN|INDEX", rich_help_panel="Output",
        help="The query token to open on: its text or a 0-based index.")] = None,
    color_scale: Annotated[Optional[str], color_scale_option()] = None,
    *,
    attn: AttentionOptions,
    mdl: ModelOptions,
    out: OutputOptions,
) -> None:
    """Explore attention in a full-screen terminal app: move across tokens, heads and layers.

    Keys: arrows or h/j/k/l, [ and ] for layers, g grid, m mean, r rollout, c scores, x color scale, / find, s save SVG, e save JSON, ? every key, q quit.

    Examples:

      attncli browse "The cat sat on the mat because it was soft"

      attncli browse --model minilm "The cat sat on the mat because it was soft"

      attncli browse --compare -c bank "stream bank mud" "money bank loan"
    """
    guarded(out, lambda env: _browse(env, texts or [], compare, file, head, focus, attn, mdl, out, color_scale))


def _browse(env: Environment, texts, compare, file, head, focus, attn: AttentionOptions, mdl: ModelOptions,
            out: OutputOptions, color_scale: str | None = None) -> None:
    from attncli.browse import TUI_HINT

    color_scale = check_color_scale(color_scale)  # a usage error before anything else

    if importlib.util.find_spec("textual") is None:
        raise AttnError("browse needs Textual, which is not installed", where="browse", kind="dependency",
                        hint=f"install the tui extra: {TUI_HINT}")
    if out.json or out.save is not None:
        option = "--json" if out.json else "--save"
        raise AttnError("browse is interactive and prints nothing", where=option,
                        hint="use attncli run for printed output; in the browser e writes JSON and s an SVG")
    if file is not None and not texts and file != "-":
        _need_terminal(env)  # before reading the file: /dev/urandom is not read only to be refused
    items, skipped = _inputs(texts, compare, file)
    if compare and len(items) > MAX_PANES:
        raise AttnError(f"--compare shows at most {MAX_PANES} texts side by side, got {len(items)}", where="TEXTS")
    mdl.check(attn)
    if not items and (mdl.model is not None or attn.config is None):
        from attncli.core.record import no_text

        raise no_text("browse", model=mdl.model)  # before anything loads
    _need_terminal(env)
    if head < 0:
        raise AttnError(f"must be 0 or more, got {head}", where="--head")
    from attncli.browse import data as adapter
    from attncli.core.record import check_head, parse_layer

    loaded = adapter.load(items, mdl.runner(attn))
    loaded.notes[:0] = skipped  # the --file lines that did not read, shown when the app opens
    check_head(head, loaded.heads, loaded.model)
    layer, grid = None, False
    if mdl.model is not None and mdl.layer is not None:
        chosen = parse_layer(mdl.layer, loaded.layers)
        layer, grid = (chosen[0], False) if len(chosen) == 1 else (loaded.layers - 1, True)
    mode = "rollout" if mdl.rollout else ("mean" if mdl.heads_mean else "head")

    from attncli.browse.app import BrowseApp

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
        browser.state.set_query(0, hit.index)
    with _drawing_on_the_terminal(env):
        browser.run()
    for path in browser.saved:
        env.note_saved(Path(path))


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


def _inputs(texts: list[str], compare: bool, file: str | None) -> tuple[list[tuple[str, str]], list[str]]:
    """(label, text) pairs from the arguments or the file, and a note per --file line skipped."""
    if file is not None:
        if texts:
            raise AttnError("give a TEXT or --file, not both", where="--file")
        if file == "-":
            raise AttnError("browse reads the terminal, so it cannot read stdin", where="--file -",
                            hint="save the lines to a file and give its path")
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
