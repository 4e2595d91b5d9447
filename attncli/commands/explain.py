"""attncli explain: the steps of self-attention on your own input, one by one."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from attncli.commands._common import (
    AttentionOptions, ModelOptions, OutputOptions, attention_options, emit, guarded, model_options, output_options,
    warn,
)

app = typer.Typer()


@app.command("explain")
@output_options
@model_options
@attention_options
def explain(
    text: Annotated[Optional[str], typer.Argument(
        help="The text to explain. Leave it out for a config that gives tensors directly.",
        show_default=False)] = None,
    step: Annotated[Optional[str], typer.Option(
        "--step", metavar="NAME", rich_help_panel="Output",
        help="Show one step: embeddings, positional, queries, keys, values, scores, scaled_scores, weights, "
             "weighted_values, output, residual, layer_norm or context.")] = None,
    *,
    attn: AttentionOptions,
    mdl: ModelOptions,
    out: OutputOptions,
) -> None:
    """Show every step of self-attention on TEXT, each with a plain-language caption and its numbers.

    Examples:

      attncli explain "She ate the apple" --no-scale

      attncli explain -c bank-projections "stream bank mud" --step queries

      attncli explain "the cat sat" --json | jq '.steps[] | .name'
    """
    guarded(out, lambda: _explain(text, step, attn, mdl, out))


def _explain(text, step, attn: AttentionOptions, mdl: ModelOptions, out: OutputOptions) -> None:
    from attncli import SCHEMA_VERSION, __version__
    from attncli.explain import select, build_steps
    from attncli.result import resolved_config

    if out.save is not None:
        from attncli.render.export import check_path

        check_path(out.save)
    mdl.check(attn)
    if mdl.model is not None:
        from attncli.errors import AttnError
        from attncli.explain import model_steps
        from attncli.models import parse_layer

        if mdl.rollout or mdl.heads_mean:
            raise AttnError("explain shows every head of one layer", where="--rollout" if mdl.rollout else "--heads-mean")
        if text is None:
            raise AttnError("no TEXT given", where="TEXT", kind="text")
        transformer = mdl.load(attn)
        run = transformer.run(text)
        chosen = parse_layer(mdl.layer, run.layers)
        if chosen is None:
            raise AttnError("explain shows one layer; give a layer number", where="--layer")
        steps = select(model_steps(run, chosen[0], out.precision), step)
        doc = {"schema": SCHEMA_VERSION, "version": __version__, "tokens": run.tokens,
               "oov": [False] * len(run.tokens), "special": run.special, "model": run.name, "layer": chosen[0],
               "config": {"model": {"name": run.name, "architecture": run.architecture, "layers": run.layers,
                                    "heads": run.heads},
                          "attention": {"causal": False}, "device": run.device, "dtype": run.dtype},
               "steps": steps}
    else:
        model = attn.model()
        result = model.run(text) if text is not None else model.run_tensors()
        unknown = [t for t, missing in zip(result.tokens, result.oov) if missing]
        if unknown:
            warn("not in the vocabulary, given stable hashed vectors: " + ", ".join(dict.fromkeys(unknown)))
        weights = {"query": model.w_query, "key": model.w_key, "value": model.w_value, "output": model.w_output}
        steps = select(build_steps(result, weights, out.precision), step)
        doc = {"schema": SCHEMA_VERSION, "version": __version__, "tokens": result.tokens, "oov": result.oov,
               "config": resolved_config(result), "steps": steps}
    def make_view(width):
        from attncli.render.explain_view import explain_view

        return explain_view(doc, precision=out.precision, width=width)

    emit(doc, out, make_view)
