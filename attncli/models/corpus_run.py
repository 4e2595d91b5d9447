"""``heads`` over a corpus, as a library call: every line of a file scored, summarized per head.

:func:`heads_corpus` is what ``attncli heads --model M --file CORPUS`` runs (and ``attncli.heads_corpus``):
it reads the corpus (attncli.io.corpus), scores the texts (attncli.models.corpus), hands every
record to ``on_record`` as it finishes (the header first, the summary last) and returns the summary
document (attncli.documents.corpus). ``resume`` (attncli.io.runfile.SavedRun) is a previous run's
output: its records count as they are and its lines are not scored again.
"""

from __future__ import annotations

from typing import Callable

from attncli.errors import AttnError, option


def check_jobs(jobs: int) -> None:
    if jobs < 1:
        raise AttnError(f"must be at least 1, got {jobs}", param="jobs")
    if jobs > 256:
        raise AttnError(f"must be at most 256, got {jobs}", param="jobs")


def model_identity(transformer) -> dict:
    """What a part's model is: the same in every shard's output, wherever the model's folder is."""
    info = transformer.info
    return {"name": transformer.name, "architecture": transformer.architecture, "family": info["family"],
            "layers": int(info["layers"]), "heads": int(info["heads"]), "kv_heads": int(info["kv_heads"]),
            "causal": bool(info["causal"]), "quantized": info["quantized"]}


def heads_corpus(model: str, file: str, *, field: str | None = None, shard: str | tuple | None = None, jobs: int = 1,
                 batch: int = 16,
                 device: str = "cpu", dtype: str = "float32", bos: bool | None = None, top: int = 5,
                 precision: int | None = None, measure: str | None = None, resume=None, on_record: Callable[[dict], None] | None = None,
                 progress: Callable | None = None, load_progress: Callable | None = None, stdin=None) -> dict:
    """Every line of ``file`` (one text a line, or JSON Lines: attncli.io.corpus) through ``model``.

    ``shard`` ``"I/N"`` (or (I, N)) takes lines n with (n - 1) % N == I - 1; ``jobs`` worker processes;
    ``batch`` texts per forward pass at most (1: every text alone, so its scores do not depend on its neighbours);
    ``progress(done, total)`` after each line (total None when unknown); ``stdin`` is what ``'-'`` reads.
    ``measure``: what the scores read, weights (None) or norm (attncli.core.head_scan.score_maps).
    """
    from attncli.core.corpus_stats import CorpusStats
    from attncli.core.devices import dtype_name
    from attncli.documents.corpus import header, same_run, shards_of, summary_document
    from attncli.io.corpus import count_lines, in_shard, parse_shard, read_corpus
    from attncli.io.textio import label_of
    from attncli.models.corpus import SCORES, CorpusScorer, Pool, score_texts
    from attncli.models.runs import ModelAttention

    from attncli.core.head_scan import head_measure

    check_jobs(jobs)
    measure = head_measure(measure)
    if not 1 <= batch <= 1024:
        raise AttnError(f"must be between 1 and 1024, got {batch}", param="batch")
    if top < 1:
        raise AttnError(f"must be at least 1, got {top}", param="top")
    shard = parse_shard(shard) if isinstance(shard, str) or shard is None else parse_shard(f"{shard[0]}/{shard[1]}")
    label = label_of(str(file))
    lines = read_corpus(file, field=field, shard=shard, stream=stdin if str(file) == "-" else None)  # opens it now
    dtype = dtype_name(dtype)
    if jobs > 1:  # a bad name fails before any worker starts, and a packaged model's cache is built once, here
        from attncli.models.load import resolve

        resolve(model, progress=load_progress)
    # the workers start loading the model now, while this process loads it too (for the tokenizer and the checks)
    pool = Pool(jobs, (model, device, dtype, bos, measure)) if jobs > 1 else None
    finished_ok = False
    try:
        runner = ModelAttention(model, device=device, dtype=dtype, bos=bos, progress=load_progress)
        scorer = CorpusScorer(runner.transformer, measure)
        head = header(model=model_identity(runner.transformer), file=label, field=field, shard=shard, scores=SCORES,
                      measure=measure)
        stats = CorpusStats(SCORES, scorer.layers, scorer.heads)
        emit = on_record or (lambda record: None)
        done: set[int] = set()
        if resume is not None:
            differs = same_run(resume.header, head)
            if differs is not None:
                raise AttnError(f"the saved run's {differs} is not this run's", param="resume",
                                hint=f"resume with the same options, or start again without {option('resume')}")
            for record in resume.records:
                _count(stats, record, done)
        else:
            emit({"header": head})
        total = count_lines(file)
        if total is not None:
            total = sum(1 for n in range(1, total + 1) if in_shard(n, shard)) if shard else total
        finished = len(done)
        if progress is not None:
            progress(finished, total)
        todo = ((n, text, error) for n, text, error in lines if n not in done)
        for record in score_texts(scorer, todo, label=label, pool=pool, max_batch=batch):
            if record["line"] in done:
                continue
            _count(stats, record, done)
            emit(record)
            finished += 1
            if progress is not None:
                progress(finished, total)
        finished_ok = True
    finally:
        if pool is not None:
            pool.close(failed=not finished_ok)
    doc = summary_document(stats, head=head, shards=shards_of(shard), top=top, precision=precision)
    emit({"summary": doc})
    return doc


def _count(stats, record: dict, done: set[int]) -> None:
    done.add(record["line"])
    if "error" in record:
        stats.add_error(record["line"])
    else:
        stats.add(record["scores"], record["tokens"])
