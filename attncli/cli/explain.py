"""attncli explain: the steps of attention on your own input, one by one (toy or one layer of a model)."""

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
from attncli.core.explain import STEP_NAMES

app = typer.Typer()


@app.command("explain")
@row_options("focus", "rows", command="explain")
@attention_command
def explain(
    text: Annotated[Optional[str], typer.Argument(
        help="The text to explain. Leave it out for a config that gives tensors directly.",
        show_default=False)] = None,
    step: Annotated[Optional[str], typer.Option(
        "--step", metavar="NAME", rich_help_panel="Output",
        autocompletion=lambda incomplete: [s for s in STEP_NAMES if s.startswith(incomplete)],
        help="Show one step: " + ", ".join(STEP_NAMES[:-1]) + " or " + STEP_NAMES[-1] + ".")] = None,
    color_scale: Annotated[Optional[str], color_scale_option()] = None,
    *,
    rows: RowOptions,
    opts: CommandOptions,
) -> None:
    """Show every step of self-attention on TEXT, each with a plain-language caption and its numbers.

    Examples:

      attncli explain "She ate the apple" --no-scale

      attncli explain -c bank-projections "stream bank mud" --step queries

      attncli explain "the cat sat" --json | jq '.steps[] | .name'

      attncli explain --model minilm "the cat sat" --layer 2

      attncli explain --model smollm2 "the cat sat" --measure norm --layer 14
      attncli explain --model smollm2 --focus -1 --layer 3 "$(cat doc.txt)"
    """
    guarded(opts.out, lambda env: _explain(env, text, step, opts, color_scale, rows))


def _explain(env: Environment, text, step, opts: CommandOptions, color_scale: str | None = None,
             chosen: RowOptions | None = None) -> None:
    attn, mdl, out, msr = opts
    chosen = chosen or RowOptions()
    color_scale = check_color_scale(color_scale)
    from attncli.core.explain import explain_record

    if mdl.rollout or mdl.heads_mean:
        raise AttnError("explain shows every head of one layer", where="--rollout" if mdl.rollout else "--heads-mean")
    mdl.check(attn)
    msr.check(mdl)
    chosen.need_model(mdl.model, "a toy explain shows every row", "e.g. --model smollm2", focus=True)
    if mdl.model is not None and text is None:
        from attncli.core.record import no_text

        raise no_text("explain", model=mdl.model)  # before the model loads
    runner = mdl.runner(attn)
    if mdl.model is not None and mdl.layer is not None and mdl.layer.strip().lower() == "all":
        raise AttnError("explain shows one layer; give a layer number", where="--layer")
    kwargs = msr.run_kwargs(runner, mdl, PassProgress())
    if mdl.model is not None:  # the chosen rows only (a long text fits); refused past the limit without them
        kwargs.update(focus=list(chosen.focus) or None, rows=chosen.rows, qkv=True, hidden=True, hint="explain", keep_steps=True)
    record = runner.run(text, **kwargs)
    env.warn_record(record)
    doc = explain_record(record, layer=mdl.layer, step=step, precision=out.precision)  # what attncli.explain returns

    def make_view(doc, width):
        from attncli.render.explain_view import explain_view

        return explain_view(doc, precision=out.precision, width=width, color_scale=color_scale)

    env.emit(doc, out, make_view)
