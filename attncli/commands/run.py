"""attncli run: one text, a file of texts, or one tensors config, through self-attention."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from attncli.commands._common import (
    AttentionOptions, Flusher, ModelOptions, OutputOptions, attention_options, guarded, model_options,
    emit, output_options, parse_include, report, stderr_console, stdout_console, warn, write_json,
)
from attncli.errors import AttnError, ExitCode

app = typer.Typer()

VIEW_HELP = "full: every weight printed; compact: one glyph per cell; auto: by length and width."


@app.command("run")
@output_options
@model_options
@attention_options
def run(
    text: Annotated[Optional[str], typer.Argument(
        help="The text to inspect. Leave it out with --file, or for a config that gives tensors directly.",
        show_default=False)] = None,
    file: Annotated[Optional[str], typer.Option(
        "--file", "-f", metavar="PATH", rich_help_panel="Input",
        help="Read texts from a file ('-' for stdin): one text per non-empty line. "
             "With --json, prints JSON Lines.")] = None,
    join: Annotated[bool, typer.Option(
        "--join", rich_help_panel="Input", help="With --file: the whole file is one text.")] = False,
    focus: Annotated[list[str], typer.Option(
        "--focus", metavar="TOKEN|INDEX", rich_help_panel="Output",
        help="Only these query rows (repeatable): a token (every occurrence), TOKEN@K (K-th, 1-based) "
             "or a 0-based index.")] = [],
    top_k: Annotated[Optional[int], typer.Option(
        "--top-k", metavar="K", rich_help_panel="Output",
        help="List each query's K most-attended tokens (per head).")] = None,
    head: Annotated[Optional[int], typer.Option(
        "--head", help="Show only this head (0-based).", rich_help_panel="Output")] = None,
    include: Annotated[list[str], typer.Option(
        "--include", metavar="WHAT", rich_help_panel="Output",
        help="Add to the JSON: qkv, raw_scores, head_context, projections or all (repeat or comma-separate).")] = [],
    view: Annotated[str, typer.Option(
        "--view", metavar="auto|full|compact", rich_help_panel="Output", help=VIEW_HELP)] = "auto",
    *,
    attn: AttentionOptions,
    mdl: ModelOptions,
    out: OutputOptions,
) -> None:
    """Run self-attention over TEXT and show the weights and context vectors.

    Examples:

      attncli run "She ate the apple" --no-scale

      attncli run -c bank "stream bank mud"

      attncli run "the cat sat on the mat" --json | jq '.weights[0][1]'

      attncli run --file sentences.txt --json > runs.jsonl

      attncli run --model minilm "The cat sat on the mat because it was soft"
    """
    guarded(out, lambda: _run(text, file, join, focus, top_k, head, include, view, attn, mdl, out))


def _run(text, file, join, focus, top_k, head, include, view, attn: AttentionOptions, mdl: ModelOptions,
         out: OutputOptions) -> None:
    from attncli.render.views import VIEWS
    from attncli.result import INCLUDE_CHOICES

    wanted = parse_include(include, INCLUDE_CHOICES)
    if view not in VIEWS:
        raise AttnError(f"unknown view {view!r}", where="--view", hint="expected auto, full or compact")
    if top_k is not None and top_k < 1:
        raise AttnError(f"must be at least 1, got {top_k}", where="--top-k")
    if text is not None and file is not None:
        raise AttnError("give a TEXT or --file, not both", where="--file")
    if join and file is None:
        raise AttnError("--join goes with --file", where="--join")
    if out.save is not None:
        from attncli.fileio import check_writable
        from attncli.render.export import check_path

        check_path(out.save)
        check_writable(out.save, "--save")  # before any output
    mdl.check(attn)
    if mdl.model is not None:
        return run_model(text, file, join, focus, top_k, head, include, view, attn, mdl, out)
    settings = attn.settings()
    if head is not None and not 0 <= head < settings.attention.heads:
        raise AttnError(f"head {head} is out of range: this run has {settings.attention.heads} head(s)",
                        where="--head", hint=f"use 0 to {settings.attention.heads - 1}"
                        if settings.attention.heads > 1 else "this run has only head 0")
    if file is not None:
        texts = read_texts(file)
        if join:
            text = _joined(texts)
            if not text.strip():
                raise AttnError("the file holds no text", where=file, kind="text")
        else:
            if settings.tensors is not None:
                raise AttnError("this config gives tensors directly; it takes no --file", where="--file")
            model = attn.model(settings)
            raise typer.Exit(run_batch(model, texts, file, focus=focus, top_k=top_k, head=head, include=wanted,
                                       view=view, out=out))
    model = attn.model(settings)
    if text is not None:
        result = model.run(text, focus=focus or None, top_k=top_k)
    else:
        result = model.run_tensors(focus=focus or None, top_k=top_k)
    emit_run(result, model, head=head, include=wanted, view=view, out=out)


def read_texts(source: str) -> list[tuple[int, str | AttnError]]:
    """(1-based line number, text) for every non-blank line of a file or of stdin ('-').

    Lines end at \\n only; a line that is not UTF-8 or too long comes as (number, AttnError).
    """
    from attncli.textio import iter_lines

    return [(line.number, line.text if line.error is None else line.error) for line in iter_lines(source)]


def _joined(texts) -> str:
    for _, line in texts:
        if isinstance(line, AttnError):
            raise line
    return " ".join(line for _, line in texts)


def _warn_oov(result, as_json: bool, where: str | None = None) -> None:
    unknown = [t for t, missing in zip(result.tokens, result.oov) if missing]
    if unknown:
        names = ", ".join(dict.fromkeys(unknown))
        prefix = f"{where}: " if where else ""
        warn(f"{prefix}not in the vocabulary, given stable hashed vectors: {names}", as_json=False)


def _weights_of(model) -> dict:
    return {"query": model.w_query, "key": model.w_key, "value": model.w_value, "output": model.w_output}


def emit_run(result, model, *, head, include, view, out: OutputOptions) -> None:
    """Warnings to stderr, then the JSON document or the terminal view (and --save)."""
    from attncli.result import stream_json, to_document

    _warn_oov(result, out.json)
    for note in model.notes:
        warn(note, as_json=out.json)
    if out.json and (out.save is None or out.save.suffix.lower() == ".json"):
        # Machine output only: stream the arrays, never holding the document as one string.
        doc = to_document(result, include=include, precision=out.precision, model_weights=_weights_of(model),
                          lazy=True)
        stream_json(doc, sys.stdout.write)
        sys.stdout.write("\n")
        sys.stdout.flush()
        if out.save is not None:
            from attncli.render.export import write_streamed

            write_streamed(out.save, lambda write: stream_json(doc, write))
        return
    doc = to_document(result, include=include, precision=out.precision, model_weights=_weights_of(model))
    _emit_doc(doc, head=head, view=view, out=out)


def run_batch(model, texts, source, *, focus, top_k, head, include, view, out: OutputOptions) -> int:
    """Every line through one model; JSON Lines (flushed as they come) or one view per line.

    Lines are computed in windows (the first of one line, so that the first record comes at
    once), each window batched by length. A bad line becomes a record with ``line`` and
    ``error`` and the run goes on; the exit status is 2 if any line failed.
    """
    from attncli.result import dumps, to_document

    console = stdout_console()
    errors = stderr_console()
    saved_views, saved_lines = [], []
    failed = 0
    label = "stdin" if source == "-" else source
    progress = None
    if errors.is_terminal and len(texts) > 1:
        from rich.progress import Progress

        from attncli.commands import _common

        progress = Progress(console=errors, transient=True, redirect_stdout=False, redirect_stderr=False)
        progress.start()
        _common.LIVE_CONSOLE = errors  # warnings and errors print above the bar
        task = progress.add_task("running", total=len(texts))
    weights = _weights_of(model)
    config_cache: dict = {}
    config_json: dict = {}  # the config is the same on every line: encode it once
    flush_now = Flusher()
    plain = not focus and top_k is None  # plain runs are batched; focus/top-k go line by line

    def compute(window):
        bad = {number: line for number, line in window if isinstance(line, AttnError)}
        if bad:  # lines that did not read (not UTF-8, too long) keep their place
            good = iter(compute([(number, line) for number, line in window if number not in bad]))
            return [bad[number] if number in bad else next(good) for number, _ in window]
        items = [(f"{label}:{number}", line) for number, line in window]
        if plain:
            return model.run_many(items)
        results = []
        for where, line in items:
            try:
                results.append(model.run(line, where=where, focus=focus or None, top_k=top_k))
                for note in model.notes:
                    warn(f"{where}: {note}", as_json=out.json)
            except AttnError as error:
                results.append(error)
        return results

    try:
        start, size = 0, 1
        while start < len(texts):
            window = texts[start:start + size]
            start, size = start + size, 512
            for (number, _line), result in zip(window, compute(window)):
                where = f"{label}:{number}"
                if isinstance(result, AttnError):
                    failed += 1
                    report(result, as_json=False)
                    doc = None
                    record = dumps({"line": number, "error": result.to_dict()}, indent=None)
                else:
                    _warn_oov(result, out.json, where)
                    doc = {"line": number, **to_document(result, include=include, precision=out.precision,
                                                         model_weights=weights, config_cache=config_cache)}
                    config = doc.pop("config")
                    if id(config) not in config_json:
                        config_json[id(config)] = dumps(config, indent=None)
                    record = dumps(doc, indent=None)[:-1] + ', "config": ' + config_json[id(config)] + "}"
                    doc["config"] = config
                if out.json:
                    write_json(record, flush=flush_now())
                elif doc is not None:
                    from rich.rule import Rule

                    from attncli.render.run_view import run_view

                    renderable = run_view(doc, head=head, precision=out.precision, view=view, width=console.width)
                    console.print(Rule(f"line {number}", align="left"))
                    console.print(renderable)
                    if out.save is not None:
                        saved_views += [Rule(f"line {number}", align="left"), renderable]
                if out.save is not None:
                    saved_lines.append(record)
                if progress is not None:
                    progress.advance(task)
    finally:
        sys.stdout.flush()
        if progress is not None:
            progress.stop()
            from attncli.commands import _common

            _common.LIVE_CONSOLE = None
    if out.save is not None:
        from rich.console import Group

        from attncli.render.export import render_to

        render_to(out.save, Group(*saved_views), "\n".join(saved_lines))
    if failed:
        stderr_console().print(f"attncli: {failed} of {len(texts)} line(s) failed")
        return int(ExitCode.USAGE)
    return int(ExitCode.OK)


def run_model(text, file, join, focus, top_k, head, include, view, attn: AttentionOptions, mdl: ModelOptions,
              out: OutputOptions) -> None:
    """``run --model``: a real model's attention, one text or a file of texts."""
    from attncli.models import model_document
    from attncli.result import dumps

    if include:
        raise AttnError("--include does not apply to a real model", where="--include")
    if text is None and file is None:
        raise AttnError("no TEXT given", where="TEXT", kind="text", hint='e.g. attncli run --model minilm "the cat"')
    texts = [(0, text)] if file is None else read_texts(file)
    if file is not None and join:
        texts = [(0, _joined(texts))]
    transformer = mdl.load(attn)

    def document(line: str, where: str) -> dict:
        result = transformer.run(line, where=where)
        for note in result.notes:
            warn(note)
        if head is not None and not 0 <= head < result.heads:
            raise AttnError(f"head {head} is out of range: {result.name} has {result.heads} heads", where="--head",
                            hint=f"use 0 to {result.heads - 1}")
        return model_document(result, transformer, layer=mdl.layer, heads_mean=mdl.heads_mean,
                              use_rollout=mdl.rollout, focus=focus or None, top_k=top_k, precision=out.precision)

    if (len(texts) == 1 and file is None) or join:
        doc = document(texts[0][1], "TEXT" if file is None else str(file))
        _emit_doc(doc, head=head, view=view, out=out)
        return
    failed = 0
    flush_now = Flusher()
    label = "stdin" if file == "-" else file
    for number, line in texts:
        try:
            if isinstance(line, AttnError):
                raise line
            doc = {"line": number, **document(line, f"{label}:{number}")}
        except AttnError as error:
            failed += 1
            report(error, as_json=False)
            if out.json:
                write_json(dumps({"line": number, "error": error.to_dict()}), flush=flush_now())
            continue
        if out.json:
            write_json(dumps(doc), flush=flush_now())
        else:
            from rich.rule import Rule

            stdout_console().print(Rule(f"line {number}", align="left"))
            _emit_doc(doc, head=head, view=view, out=out)
    sys.stdout.flush()
    if failed:
        raise typer.Exit(int(ExitCode.USAGE))


def _emit_doc(doc, *, head, view, out: OutputOptions) -> None:
    def make_view(width):
        from attncli.render.run_view import run_view

        return run_view(doc, head=head, precision=out.precision, view=view, width=width)

    emit(doc, out, make_view)
