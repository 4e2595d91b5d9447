"""attncli run: one text (or one tensors config) through self-attention."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from attncli.commands._common import (
    AttentionOptions, OutputOptions, attention_options, guarded, output_options, parse_include,
    stdout_console, warn, write_json,
)

app = typer.Typer()


@app.command("run")
@output_options
@attention_options
def run(
    text: Annotated[Optional[str], typer.Argument(
        help="The text to inspect. Leave it out for a config that gives tensors directly.",
        show_default=False)] = None,
    head: Annotated[Optional[int], typer.Option(
        "--head", help="Show only this head (0-based).", rich_help_panel="Output")] = None,
    include: Annotated[list[str], typer.Option(
        "--include", metavar="WHAT", rich_help_panel="Output",
        help="Add to the JSON: qkv, raw_scores, head_context, projections or all (repeat or comma-separate).")] = [],
    view: Annotated[str, typer.Option(
        "--view", metavar="auto|full|compact", rich_help_panel="Output",
        help="full: every weight printed; compact: one glyph per cell; auto: by length and width.")] = "auto",
    *,
    attn: AttentionOptions,
    out: OutputOptions,
) -> None:
    """Run self-attention over TEXT and show the weights and context vectors.

    Examples:

      attncli run "She ate the apple" --no-scale

      attncli run -c bank "stream bank mud"

      attncli run "the cat sat on the mat" --json | jq '.weights[0][1]'
    """
    guarded(out, lambda: _run(text, head, include, view, attn, out))


def _run(text, head, include, view, attn: AttentionOptions, out: OutputOptions) -> None:
    from attncli.errors import AttnError
    from attncli.render.run_view import VIEWS
    from attncli.result import INCLUDE_CHOICES

    wanted = parse_include(include, INCLUDE_CHOICES)
    if view not in VIEWS:
        raise AttnError(f"unknown view {view!r}", where="--view", hint="expected auto, full or compact")
    if out.save is not None:
        from attncli.render.export import check_path

        check_path(out.save)
    settings = attn.settings()
    if head is not None and not 0 <= head < settings.attention.heads:
        raise AttnError(f"head {head} is out of range: this run has {settings.attention.heads} head(s)",
                        where="--head", hint=f"use 0 to {settings.attention.heads - 1}"
                        if settings.attention.heads > 1 else "this run has only head 0")
    model = attn.model(settings)
    result = model.run(text) if text is not None else model.run_tensors()
    emit_run(result, model, head=head, include=wanted, view=view, out=out)


def emit_run(result, model, *, head, include, view, out: OutputOptions) -> None:
    """Warnings to stderr, then the JSON document or the terminal view (and --save)."""
    from attncli.result import dumps, to_document

    unknown = [t for t, missing in zip(result.tokens, result.oov) if missing]
    if unknown:
        names = ", ".join(dict.fromkeys(unknown))
        warn(f"not in the vocabulary, given stable hashed vectors: {names}", as_json=False)
    weights = {"query": model.w_query, "key": model.w_key, "value": model.w_value, "output": model.w_output}
    doc = to_document(result, include=include, precision=out.precision, model_weights=weights)
    text = dumps(doc)
    renderable = None
    if not out.json or (out.save is not None and out.save.suffix.lower() != ".json"):
        from attncli.render.run_view import run_view

        console = stdout_console()
        renderable = run_view(doc, head=head, precision=out.precision, view=view, width=console.width)
    if out.json:
        write_json(text)
    else:
        stdout_console().print(renderable)
    if out.save is not None:
        from attncli.render.export import render_to

        render_to(out.save, renderable, text)
