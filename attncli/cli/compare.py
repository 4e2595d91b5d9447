"""attncli compare: one word's attention and output across several contexts (toy or a real model)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from attncli.cli.groups import CommandOptions, attention_command
from attncli.cli.measure_options import PassProgress
from attncli.cli.options import check_color_scale, color_scale_option
from attncli.cli.row_options import RowOptions, row_options
from attncli.cli.boundary import guarded
from attncli.cli.output import Environment
from attncli.errors import AttnError

app = typer.Typer()


@app.command("compare")
@row_options("focus", command="compare")
@attention_command
def compare(
    texts: Annotated[list[str], typer.Argument(help="Two or more texts (contexts) to compare.",
                                               show_default=False)],
    color_scale: Annotated[Optional[str], color_scale_option()] = None,
    max_cells: Annotated[Optional[int], typer.Option(
        "--max-cells", metavar="N", rich_help_panel="Output",
        help="The most pairwise figures (tokens x contexts^2 x matrices) to compute (default 1_000_000; "
             "docs/limits.md).")] = None,
    *,
    rows: RowOptions,
    opts: CommandOptions,
) -> None:
    """Show how one word's attention and context vector change from one context to another.

    Examples:

      attncli compare -c bank "stream bank mud" "money bank loan" --focus bank

      attncli compare "the cat sat" "a cat ran" --json

      attncli compare --model minilm "the river bank" "the bank loan" --focus bank

      attncli compare --model minilm "the river bank" "the bank loan" --focus bank --measure alti
    """
    guarded(opts.out, lambda env: _compare(env, texts, rows.focus, max_cells, opts, color_scale))


def _compare(env: Environment, texts, focus, max_cells, opts: CommandOptions,
             color_scale: str | None = None) -> None:
    attn, mdl, out, msr = opts
    color_scale = check_color_scale(color_scale)
    from attncli.core import comparison, focus as focus_grammar

    if len(texts) < 2:
        raise AttnError(f"compare needs at least two texts, got {len(texts)}", where="TEXTS",
                        hint='e.g. attncli compare "stream bank mud" "money bank loan" --focus bank')
    if focus is not None:
        focus_grammar.parse(focus)  # a malformed --focus fails before anything loads
    if mdl.rollout:
        raise AttnError("compare follows one token's own attention; rollout is for run", where="--rollout")
    msr.check(mdl)
    if mdl.layer is not None and mdl.layer.strip().lower() == "all":
        raise AttnError("compare shows every layer already; --layer all is for run", where="--layer",
                        hint="compare's figures cover all layers; --layer picks the one whose weights are shown")
    runner = mdl.runner(attn)
    if mdl.model is None and runner.settings.tensors is not None:
        raise AttnError("compare needs texts, and this config gives tensors directly", where="--config",
                        hint="use a config without tensors:")
    if max_cells is not None and max_cells < 1:
        raise AttnError(f"must be at least 1, got {max_cells}", where="--max-cells")
    limit = max_cells or comparison.DEFAULT_MAX_CELLS
    heads, layers = ((runner.heads, int(runner.config["model"]["layers"])) if mdl.model is not None
                     else (runner.settings.attention.heads, 0))
    comparison.check_cells(len(texts), 1, heads, layers, limit)  # at least one token: before any run
    kwargs = msr.run_kwargs(runner, mdl, PassProgress())
    records = []
    with env.progress(len(texts), views_on_stdout=not out.json) as advance:
        for i, text in enumerate(texts):
            if mdl.model is not None:  # a long text: only the followed token's rows
                records.append(runner.run_followed(text, where=f"context {i + 1}", focus=focus, **kwargs))
            else:
                records.append(runner.run(text, where=f"context {i + 1}", **kwargs))
            advance()
    for record in records:
        if record.source == "model":
            for note in record.warnings:
                env.warn(note)
    unknown = list(dict.fromkeys(t for r in records for t, m in zip(r.tokens, r.oov) if m))
    if unknown:
        env.warn("not in the vocabulary, given stable hashed vectors: " + ", ".join(unknown))
    specs = [focus_grammar.parse(focus)] if focus is not None else comparison.common_tokens(records)
    for spec in specs:
        for note in comparison.focus_notes(spec, records):
            env.warn(note)
    doc = comparison.compare_records(records, focus=focus, layer=mdl.layer, heads_mean=mdl.heads_mean,
                                     precision=out.precision, max_cells=limit)  # what attncli.compare returns

    def make_view(doc, width):
        from attncli.render.compare_view import compare_view

        return compare_view(doc, precision=out.precision, width=width, color_scale=color_scale)

    env.emit(doc, out, make_view)
