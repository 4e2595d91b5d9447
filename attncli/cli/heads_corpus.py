"""``attncli heads --model M --file CORPUS`` (head statistics over a corpus) and ``attncli heads merge PART...``.

Only options and output here (the corpus options, :data:`CORPUS_PARAMS`, declared once for heads): the loop is attncli.models.corpus_run.heads_corpus, the statistics
attncli.core.corpus_stats, the documents attncli.documents.corpus. The records of a run go, as they
finish, to stdout (``--jsonl``) and to ``--save FILE.jsonl`` (written in place, so ``--resume`` can
continue it); ``--json`` prints the summary, the view its top heads.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

import typer

from attncli.cli.options import _option_group
from attncli.cli.output import Environment, Flusher
from attncli.errors import AttnError, ExitCode

STREAM_SUFFIXES = (".jsonl", ".ndjson")
CORPUS_PANEL = "Corpus (--file with --model)"


@dataclass
class CorpusOptions:
    """The options of a corpus run (``heads --model M --file CORPUS``)."""

    field: Optional[str] = None
    jsonl: bool = False
    jobs: int = 1
    batch: int = 16
    shard: Optional[str] = None
    resume: bool = False

    def given(self) -> list[str]:
        """The flags set away from their defaults (each goes with a corpus only)."""
        default = CorpusOptions()
        return [f"--{f.name}" for f in dataclasses.fields(self) if getattr(self, f.name) != getattr(default, f.name)]


def _corpus_option(flag: str, help: str, *, metavar: str | None = None, short: str | None = None):
    decls = (flag,) if short is None else (flag, short)
    return typer.Option(*decls, metavar=metavar, rich_help_panel=CORPUS_PANEL, help=help)


CORPUS_PARAMS: dict[str, tuple[Any, Any]] = {
    "field": (Optional[str], _corpus_option(
        "--field", "The JSON Lines field that holds the text (default text; naming one reads JSON Lines).",
        metavar="NAME")),
    "jsonl": (bool, _corpus_option(
        "--jsonl", "Print a record per line as it finishes, then the summary (JSON Lines).", metavar=" ")),
    "jobs": (int, _corpus_option(
        "--jobs", "Processes that score batches: this one and N-1 workers, cores/N torch threads each.", short="-j")),
    "batch": (int, _corpus_option(
        "--batch", "Texts per forward pass at most, each padded to its length's bucket, so that its scores are "
                   "the same bit for bit in any batch, shard or resumed run (1: each alone, unpadded).")),
    "shard": (Optional[str], _corpus_option(
        "--shard", "Only lines n with (n - 1) % N == I - 1 (I from 1); combine the parts with 'heads merge'.",
        metavar="I/N")),
    "resume": (bool, _corpus_option(
        "--resume", "Continue the run saved in --save FILE.jsonl; its finished lines are not scored again.",
        metavar=" ")),
}

corpus_options = _option_group("crp", CorpusOptions, CORPUS_PARAMS)


class Progress:
    """A Rich progress bar on stderr while the model loads and runs (nothing when stderr is no terminal);
    on ``env``'s stderr console (messages print above it), with the time left when ``eta``."""

    def __init__(self, env: Environment | None = None, *, eta: bool = False) -> None:
        from rich.console import Console

        self.env, self.eta = env, eta
        self.console = env.err if env is not None else Console(stderr=True)
        self.bar = None
        self.task = None

    def __enter__(self):
        if self.console.is_terminal:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            columns = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn()]
            if self.eta:
                columns[2:] = [MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn()]
            self.bar = Progress(*columns, console=self.console, transient=True)
            self.bar.start()
            if self.env is not None:
                self.env.live = self.console
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
            if self.env is not None:
                self.env.live = None

    def update(self, description: str, done, total) -> None:
        if self.bar is None:
            return
        if self.task is None:
            self.task = self.bar.add_task(description, total=total)
        self.bar.update(self.task, description=description, completed=done or 0, total=total)

    def layers(self, done: int, total: int) -> None:
        self.update("running the layers", done, total)

    def texts(self, done: int, total: int | None) -> None:
        self.update("scoring texts", done, total)


def run_corpus(env: Environment, out, crp: CorpusOptions, *, model: str, file: str, top: int, device: str | None,
               dtype: str | None, bos, measure: str = "weights") -> int:
    from attncli.documents.jsonout import dumps
    from attncli.io.runfile import RunWriter, read_run
    from attncli.models.corpus import error_of
    from attncli.models.corpus_run import check_jobs

    jobs, jsonl, resume = crp.jobs, crp.jsonl, crp.resume
    check_jobs(jobs)
    if out.json and jsonl:
        raise AttnError("give --json or --jsonl, not both", where="--jsonl")
    stream = out.save is not None and out.save.suffix.lower() in STREAM_SUFFIXES
    if resume and not stream:
        raise AttnError("--resume continues the records of --save FILE.jsonl", where="--resume",
                        hint="add --save FILE.jsonl (the file of the run to continue)")
    saved = read_run(out.save) if resume else None
    writer = None
    flush_now = Flusher()
    counts = {"lines": 0, "failed": 0}

    def on_record(record: dict) -> None:
        nonlocal writer
        line = dumps(record)
        if stream:
            if writer is None:  # opened at the first record: a run refused before it leaves the file alone
                writer = RunWriter(out.save, resume_at=saved.end if saved is not None else None)
            writer.write(line)
        if "line" in record:
            counts["lines"] += 1
            if "error" in record:
                counts["failed"] += 1
                env.report(error_of(record["error"]))
        if jsonl and not env.reader_left:
            env.stdout.write(line + "\n")
            if flush_now() or "summary" in record:
                env.stdout.flush()

    from attncli.models.corpus_run import heads_corpus

    try:
        with Progress(env, eta=True) as bar:
            doc = heads_corpus(model, file, field=crp.field, shard=crp.shard, jobs=jobs, batch=crp.batch,
                               device=device or "cpu", dtype=dtype or "float32", bos=bos, top=top, measure=measure,
                               precision=out.precision, resume=saved,
                               on_record=on_record, progress=bar.texts, load_progress=bar.update,
                               stdin=env.stdin_binary() if file == "-" else None)
    finally:
        if writer is not None:
            writer.close()
    if stream:
        env.note_saved(out.save)
    if not jsonl:
        _emit(env, dataclasses.replace(out, save=None) if stream else out, doc)
    if counts["failed"]:
        env.err.print(f"attncli: {counts['failed']} of {counts['lines']} line(s) failed")
        return int(ExitCode.USAGE)
    return int(ExitCode.OK)


def _emit(env: Environment, out, doc: dict) -> None:
    def make_view(doc, width):
        from attncli.render.corpus_view import corpus_view

        return corpus_view(doc, precision=out.precision, width=width)

    env.emit(doc, out, make_view)


def merge_parts(env: Environment, out, parts: list[str], *, top: int) -> int:
    """``heads merge PART...``: the parts' statistics added up, as one run's summary."""
    from attncli.documents.corpus import merge, part_of
    from attncli.io.runfile import read_part
    from attncli.io.textio import label_of

    if not parts:
        raise AttnError("missing argument: the parts to merge", where="PART",
                        hint="attncli heads merge part-1.json part-2.json ...")
    if top < 1:
        raise AttnError(f"must be at least 1, got {top}", where="--top")
    if out.save is not None and out.save.suffix.lower() in STREAM_SUFFIXES:
        raise AttnError("a merge is one document: save it as .json", where="--save")
    docs = [(label_of(part), part_of(read_part(part), label_of(part))) for part in parts]
    _emit(env, out, merge(docs, top=top, precision=out.precision))
    return int(ExitCode.OK)
