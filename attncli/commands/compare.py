"""attncli compare: one word's attention and output across several contexts."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from attncli.commands._common import (
    AttentionOptions, ModelOptions, OutputOptions, attention_options, emit, guarded, model_options, output_options,
    warn,
)

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
    guarded(out, lambda: _compare(texts, focus, attn, mdl, out))


def _compare(texts, focus, attn: AttentionOptions, mdl: ModelOptions, out: OutputOptions) -> None:
    from attncli import comparison
    from attncli.errors import AttnError
    from attncli.result import to_document

    if len(texts) < 2:
        raise AttnError(f"compare needs at least two texts, got {len(texts)}", where="TEXTS",
                        hint='e.g. attncli compare "stream bank mud" "money bank loan" --focus bank')
    if out.save is not None:
        from attncli.render.export import check_path

        check_path(out.save)
    specs = [comparison.parse_focus(focus)] if focus is not None else None
    mdl.check(attn)
    if mdl.model is not None:
        return _compare_model(texts, specs, mdl, attn, out)
    settings = attn.settings()
    if settings.tensors is not None:
        raise AttnError("compare needs texts, and this config gives tensors directly", where="--config",
                        hint="use a config without tensors:")
    model = attn.model(settings)
    results = [model.run(text, where=f"context {i + 1}") for i, text in enumerate(texts)]
    unknown = list(dict.fromkeys(t for r in results for t, m in zip(r.tokens, r.oov) if m))
    if unknown:
        warn("not in the vocabulary, given stable hashed vectors: " + ", ".join(unknown))
    specs = specs or comparison.common_tokens(results)
    docs = [to_document(r, precision=out.precision) for r in results]
    doc = comparison.compare_document(results, specs, docs, out.precision)
    _emit(doc, out)


def _emit(doc, out: OutputOptions) -> None:
    def make_view(width):
        from attncli.render.compare_view import compare_view

        return compare_view(doc, precision=out.precision)

    emit(doc, out, make_view)


def _compare_model(texts, specs, mdl: ModelOptions, attn: AttentionOptions, out: OutputOptions) -> None:
    from attncli import SCHEMA_VERSION, __version__, comparison
    from attncli.models import model_document, parse_layer

    transformer = mdl.load(attn)
    runs = [transformer.run(text, where=f"context {i + 1}") for i, text in enumerate(texts)]
    chosen = parse_layer(mdl.layer, runs[0].layers)
    if chosen is None:
        from attncli.errors import AttnError

        raise AttnError("compare shows every layer already; --layer all is for run", where="--layer",
                        hint="compare's figures cover all layers; --layer picks the one whose weights are shown")
    specs = specs or comparison.model_common_tokens(runs)
    docs = [model_document(r, transformer, layer=mdl.layer, heads_mean=mdl.heads_mean, use_rollout=False,
                           focus=None, top_k=None, precision=out.precision) for r in runs]
    doc = {"schema": SCHEMA_VERSION, "version": __version__, "model": runs[0].name, "layer": chosen[0],
           "contexts": docs,
           "focus": [comparison.model_focus_entry(spec, runs, layer=chosen[0], heads_mean=mdl.heads_mean,
                                                  precision=out.precision) for spec in specs]}
    _emit(doc, out)
