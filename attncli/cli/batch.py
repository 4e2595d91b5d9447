"""``--file``: every line through one runner (toy or model), as JSON Lines or one view per line.

One writer for toy and model runs alike: records flushed as they come (the first at once),
a bad line becomes a record with ``line`` and ``error`` (and its message on stderr, prefixed
with FILE:LINE), a progress bar on stderr, and ``--save`` streamed to its file as records are
written. The exit status is 2 if any line failed.

A reader of stdout that leaves early (``| head -1``) ends the batch quietly (exit 0), unless
``--save`` is on: then the rest of stdout is dropped and the batch runs on, so the file is
written in full.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterable

from attncli.cli.output import MAX_SAVED_VIEWS, Environment, Flusher
from attncli.errors import AttnError, ExitCode

#: Lines computed together after the first (which is computed alone, so that it comes at once).
WINDOW = 512


def run_batch(env: Environment, runner, lines: Iterable, label: str, *, out, total: int | None,
              make_doc: Callable, make_view: Callable | None, run_kwargs: dict) -> int:
    """``lines`` yields (line number, text or None, AttnError or None); returns the exit status."""
    views: list = []
    if out.save is not None and out.save.suffix.lower() != ".json":
        lines = _at_most(lines, MAX_SAVED_VIEWS, out.save.suffix)  # refused before the first view is printed
    with contextlib.ExitStack() as stack:
        saved = None
        from attncli.render.export import is_json

        if out.save is not None and is_json(out.save):
            from attncli.io.fileio import atomic_open

            # --save FILE.json: the JSON Lines go to a temporary file as they come, renamed at the end
            saved = stack.enter_context(atomic_open(out.save, where="--save"))
        status = _run(env, runner, lines, label, out=out, total=total, make_doc=make_doc, make_view=make_view,
                      run_kwargs=run_kwargs, saved=saved, views=views)
    if out.save is not None:
        env.note_saved(out.save)
    return status


def _run(env: Environment, runner, lines, label, *, out, total, make_doc, make_view, run_kwargs, saved,
         views) -> int:
    from attncli.documents.jsonout import dumps

    failed = 0
    encoded_configs: dict[int, str] = {}
    flush_now = Flusher()
    seen = 0  # lines run (``total`` is None for a stream)
    unknown: dict[str, None] = {}  # out-of-vocabulary tokens (distinct), named once at the end
    unknown_lines = 0
    first_unknown = None  # the first line with one
    with env.progress(total, views_on_stdout=not out.json) as advance:
        for window in _windows(lines):
            good = [(number, text) for number, text, error in window if error is None]
            results = iter(runner.run_many([(f"{label}:{n}", t) for n, t in good], **run_kwargs))
            for number, _text, error in window:
                seen += 1
                result = error if error is not None else next(results)
                if not isinstance(result, AttnError):
                    try:
                        doc = make_doc(result)
                    except AttnError as problem:
                        result = problem
                if isinstance(result, AttnError):
                    failed += 1
                    prefix = "" if (result.where or "").startswith(f"{label}:") else f"{label}:{number}: "
                    env.report(result, prefix=prefix)
                    record_line = dumps({"line": number, "error": result.to_dict()})
                    doc = None
                else:
                    env.warn_record(result, f"{label}:{number}", unknown=False)
                    found = [t for t, missing in zip(result.tokens, result.oov) if missing]
                    if found:
                        unknown.update(dict.fromkeys(found))
                        unknown_lines += 1
                        first_unknown = first_unknown or number
                    record_line = _record_line(number, doc, encoded_configs)
                if out.json:
                    _to_stdout(env, out, lambda: env.stdout.write(record_line + "\n"))
                    if flush_now():
                        _to_stdout(env, out, env.stdout.flush)
                elif doc is not None and make_view is not None:
                    from rich.rule import Rule

                    renderable = make_view(doc, env.out.width)
                    _to_stdout(env, out, lambda: (env.out.print(Rule(f"line {number}", align="left")),
                                                  env.out.print(renderable)))
                    if out.save is not None and saved is None:  # at most MAX_SAVED_VIEWS (read ahead)
                        views += [Rule(f"line {number}", align="left"), renderable]
                if saved is not None:
                    saved.write(record_line + "\n")
                advance()
    _to_stdout(env, out, env.stdout.flush)
    if saved is None and out.save is not None:
        from rich.console import Group

        from attncli.render.export import render_to

        render_to(out.save, Group(*views), "")
    if unknown:
        env.warn_unknown(list(unknown), f"{label}:{first_unknown}: ", lines=unknown_lines)
    if failed:
        env.err.print(f"attncli: {failed} of {seen} line(s) failed")
        return int(ExitCode.USAGE)
    return int(ExitCode.OK)


def _to_stdout(env: Environment, out, write: Callable[[], object]) -> None:
    """``write()`` to stdout, unless its reader has left; a reader that leaves ends the batch, unless it saves."""
    if env.reader_left:
        return
    try:
        write()
    except BrokenPipeError:
        if out.save is None:
            raise
        env.stop_stdout()  # --save is still to be written in full: run on without stdout


def _at_most(lines: Iterable, limit: int, suffix: str) -> list:
    """The lines, read ahead (a line is at most a text), refused when there are more than ``limit``."""
    kept: list = []
    for item in lines:
        kept.append(item)
        if len(kept) > limit:
            raise AttnError(f"more than {limit:,} lines: too many views to save as {suffix}", where="--save",
                            hint="save a batch as .json (JSON Lines, written as it runs)")
    return kept


def _windows(lines: Iterable):
    """The first line alone (its record comes at once), then windows of WINDOW lines."""
    window: list = []
    size = 1
    for item in lines:
        window.append(item)
        if len(window) >= size:
            yield window
            window, size = [], WINDOW
    if window:
        yield window


def _record_line(number: int, doc: dict, encoded: dict[int, str]) -> str:
    """One JSON Lines record; the config (the same object on every line of a batch) is encoded once."""
    from attncli.documents.jsonout import dumps

    config = doc.get("config")
    if config is None:
        return dumps({"line": number, **doc})
    body = dumps({"line": number, **{k: v for k, v in doc.items() if k != "config"}})
    if id(config) not in encoded:
        encoded[id(config)] = dumps(config)
    return body[:-1] + ', "config": ' + encoded[id(config)] + "}"
