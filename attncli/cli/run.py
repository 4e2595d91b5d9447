"""attncli run: one text, a file of texts, or one tensors config, through attention (toy or a real model)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from attncli.cli.groups import CommandOptions, attention_command
from attncli.cli.measure_options import PassProgress
from attncli.cli.options import check_color_scale, choices, color_scale_option
from attncli.cli.row_options import RowOptions, row_options
from attncli.cli.boundary import guarded
from attncli.cli.output import Environment, parse_include
from attncli.errors import AttnError

app = typer.Typer()

VIEW_HELP = ("full: every weight printed; compact: a dense heatmap; grid: every head at once; "
             "auto: by length and width.")


@app.command("run")
@row_options("focus", "rows", "stats", command="run")
@attention_command
def run(
    text: Annotated[Optional[str], typer.Argument(
        help="The text to inspect. Leave it out with --file, or for a config that gives tensors directly.",
        show_default=False)] = None,
    file: Annotated[Optional[str], typer.Option(
        "--file", "-f", metavar="PATH", rich_help_panel="Input",
        help="Read texts from a file ('-' for stdin): one text per non-empty line. "
             "With --json, prints JSON Lines.")] = None,
    join: Annotated[bool, typer.Option(
        "--join", metavar=" ", rich_help_panel="Input", help="With --file: the whole file is one text.")] = False,
    top_k: Annotated[Optional[int], typer.Option(
        "--top-k", metavar="K", rich_help_panel="Output",
        help="List each query's K most-attended tokens (per head).")] = None,
    head: Annotated[Optional[int], typer.Option(
        "--head", metavar="K", help="Show only this head (0-based).", rich_help_panel="Output")] = None,
    include: Annotated[list[str], typer.Option(
        "--include", metavar="WHAT", rich_help_panel="Output",
        help="Add to the JSON: qkv, raw_scores, head_context, projections, embeddings (every row's, with --focus) "
             "or all (repeat or comma-separate).")] = [],
    view: Annotated[str, typer.Option(
        "--view", metavar="auto|full|compact|grid", rich_help_panel="Output", help=VIEW_HELP,
        autocompletion=choices("auto", "full", "compact", "grid"))] = "auto",
    color_scale: Annotated[Optional[str], color_scale_option()] = None,
    context: Annotated[str, typer.Option(
        "--context", metavar="auto|all|none", rich_help_panel="Output", autocompletion=choices("auto", "all", "none"),
        help="The context vectors in the view: auto (every row up to 12, else the first 10), all, or none.")] = "auto",
    *,
    rows: RowOptions,
    opts: CommandOptions,
) -> None:
    """Run self-attention over TEXT and show the weights and context vectors.

    Examples:

      attncli run "She ate the apple" --no-scale

      attncli run -c bank "stream bank mud"

      attncli run "the cat sat on the mat" --json | jq '.weights[0][1]'

      attncli run --file sentences.txt --json > runs.jsonl

      attncli run --model minilm "The cat sat on the mat because it was soft"
    """
    guarded(opts.out, lambda env: _run(env, text, file, join, rows.focus, top_k, head, include, view, opts,
                                       color_scale, context, rows))


def _run(env: Environment, text, file, join, focus, top_k, head, include, view, opts: CommandOptions,
         color_scale: str | None = None, context: str = "auto", chosen: RowOptions | None = None) -> None:
    attn, mdl, out, msr = opts
    chosen = chosen or RowOptions()
    from attncli.documents.build import INCLUDE_CHOICES
    from attncli.render.views import VIEWS

    wanted = parse_include(include, INCLUDE_CHOICES)
    if view not in VIEWS:
        raise AttnError(f"unknown view {view!r}", where="--view", hint="expected " + ", ".join(VIEWS))
    color_scale = check_color_scale(color_scale)
    if context not in ("auto", "all", "none"):
        raise AttnError(f"unknown choice {context!r}", where="--context", hint="expected auto, all or none")
    if top_k is not None and top_k < 1:
        raise AttnError(f"must be at least 1, got {top_k}", where="--top-k")
    if text is not None and file is not None:
        raise AttnError("give a TEXT or --file, not both", where="--file")
    if join and file is None:
        raise AttnError("--join goes with --file", where="--join")
    mdl.check(attn)
    msr.check(mdl, rollout=mdl.rollout)
    chosen.need_model(mdl.model, "a toy run computes its rows directly", "use --focus INDEX for a toy run's rows")
    if mdl.model is not None and "projections" in wanted:
        raise AttnError("--include projections does not apply to a real model (its projections are its weights)",
                        where="--include", hint="use qkv, raw_scores, head_context, embeddings or all")
    if mdl.model is not None and text is None and file is None:
        from attncli.core.record import no_text

        raise no_text(model=mdl.model)  # before the model loads
    lines = None
    if file is not None:
        from attncli.cli.lines import join_lines, stream_lines

        stdin = env.stdin_binary() if file == "-" else None
        if join:  # one text: bounded (never the whole of an endless input), a line that fails fails it
            text = join_lines(file, stdin)
        else:
            lines = stream_lines(file, stdin)  # a batch streams: any length, bounded memory
    runner = mdl.runner(attn)
    if mdl.model is None:
        from attncli.core.record import check_head

        check_head(head, runner.spec.heads)
        if lines is not None and runner.settings.tensors is not None:
            raise AttnError("this config gives tensors directly; it takes no --file", where="--file")
    run_kwargs = {"focus": focus or None, "top_k": top_k, "rollout": mdl.rollout,
                  **msr.run_kwargs(runner, mdl, PassProgress())}
    if mdl.model is not None and wanted & {"raw_scores", "all"}:
        run_kwargs["raw_scores"] = True  # Q K^T of every layer, from the captured queries and keys
    if mdl.model is not None:
        run_kwargs.update(rows=chosen.rows, stats=chosen.stats, qkv=bool(wanted & {"qkv", "all"}))

    def make_doc(record, lazy=False):
        from attncli.core.record import check_head
        from attncli.documents.build import record_document

        check_head(head, record.heads, record.name)
        record.show(layer=mdl.layer, heads_mean=mdl.heads_mean, rollout=mdl.rollout, top_k=top_k, include=wanted)
        return record_document(record, precision=out.precision, lazy=lazy)  # attncli.document, streamed

    def make_view(doc, width):
        from attncli.render.run_view import run_view

        return run_view(doc, head=head, precision=out.precision, view=view, width=width, color_scale=color_scale,
                        context=context)

    if lines is not None:
        from attncli.cli.batch import run_batch

        label = "stdin" if file == "-" else file
        raise typer.Exit(run_batch(env, runner, lines, label, out=out, total=None,
                                   make_doc=make_doc, make_view=make_view, run_kwargs=run_kwargs))
    record = runner.run(text, **run_kwargs)
    env.warn_record(record)
    env.emit(make_doc(record, lazy=True), out, make_view)
