"""attncli compare: one word's attention and output across several contexts (toy or a real model)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from attncli.cli.options import (
    AttentionOptions, ModelOptions, OutputOptions, attention_options, check_color_scale, color_scale_option,
    model_options, output_options,
)
from attncli.cli.output import Environment, guarded
from attncli.errors import AttnError

app = typer.Typer()


@app.command("compare")
@output_options
@model_options
@attention_options
def compare(
    texts: Annotated[list[str], typer.Argument(help="Two or more texts (contexts) to compare.",
                                               show_default=False)],
    focus: Annotated[Optional[str], typer.Option(
        "--focus", metavar="TOKEN[@K]", rich_help_panel="Output",
        help="The token to follow (K-th occurrence with TOKEN@K, 1-based). Default: every shared token.")] = None,
    color_scale: Annotated[Optional[str], color_scale_option()] = None,
    max_cells: Annotated[Optional[int], typer.Option(
        "--max-cells", metavar="N", rich_help_panel="Output",
        help="The most pairwise figures (tokens x contexts^2 x matrices) to compute (default 1_000_000; "
             "docs/limits.md).")] = None,
    *,
    attn: AttentionOptions,
    mdl: ModelOptions,
    out: OutputOptions,
) -> None:
    """Show how one word's attention and context vector change from one context to another.

    Examples:

      attncli compare -c bank "stream bank mud" "money bank loan" --focus bank

      attncli compare "the cat sat" "a cat ran" --json

      attncli compare --model minilm "the river bank" "the bank loan" --focus bank
    """
    guarded(out, lambda env: _compare(env, texts, focus, max_cells, attn, mdl, out, color_scale))


def _compare(env: Environment, texts, focus, max_cells, attn: AttentionOptions, mdl: ModelOptions,
             out: OutputOptions, color_scale: str | None = None) -> None:
    color_scale = check_color_scale(color_scale)
    from attncli.core import comparison, focus as focus_grammar
    from attncli.documents.build import compare_document, run_document
    from attncli.core.record import parse_layer

    if len(texts) < 2:
        raise AttnError(f"compare needs at least two texts, got {len(texts)}", where="TEXTS",
                        hint='e.g. attncli compare "stream bank mud" "money bank loan" --focus bank')
    specs = [focus_grammar.parse(focus)] if focus is not None else None
    if mdl.rollout:
        raise AttnError("compare follows one token's own attention; rollout is for run", where="--rollout")
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
    records = []
    with env.progress(len(texts), views_on_stdout=not out.json) as advance:
        for i, text in enumerate(texts):
            records.append(runner.run(text, where=f"context {i + 1}"))
            advance()
    for record in records:
        if record.source == "model":
            for note in record.warnings:
                env.warn(note)
    unknown = list(dict.fromkeys(t for r in records for t, m in zip(r.tokens, r.oov) if m))
    if unknown:
        env.warn("not in the vocabulary, given stable hashed vectors: " + ", ".join(unknown))
    layer = -1
    if records[0].source == "model":
        if mdl.layer is not None and mdl.layer.strip().lower() == "all":
            raise AttnError("compare shows every layer already; --layer all is for run", where="--layer",
                            hint="compare's figures cover all layers; --layer picks the one whose weights are shown")
        layer = parse_layer(mdl.layer, len(records[0].layers))[0]
    specs = specs or comparison.common_tokens(records)
    comparison.check_cells(len(texts), len(specs), heads, layers, limit)  # every followed token
    for spec in specs:
        for note in comparison.focus_notes(spec, records):
            env.warn(note)
    layers = [layer % len(records[0].layers)] if records[0].source == "model" else None
    contexts = [run_document(r, layers=layers, heads_mean=mdl.heads_mean, precision=out.precision) for r in records]
    entries = [comparison.focus_entry(spec, records, layer=layer, heads_mean=mdl.heads_mean,
                                      precision=out.precision) for spec in specs]
    doc = compare_document(records, entries, contexts, layer=layers[0] if layers else None)

    def make_view(doc, width):
        from attncli.render.compare_view import compare_view

        return compare_view(doc, precision=out.precision, width=width, color_scale=color_scale)

    env.emit(doc, out, make_view)
