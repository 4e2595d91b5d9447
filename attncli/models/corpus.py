"""Head scores over a corpus: texts batched by length through a model, in this process and N - 1 workers.

:class:`CorpusScorer` runs a batch of token-id lists as one forward pass, right-padded with an
attention mask, every layer's weights captured (the eager arithmetic of attncli.models.capture,
which equals ``output_attentions``); each text's (L, H) scores are those of its own N x N block
(the rows and keys before the padding), scored by :func:`attncli.core.detectors.score_all`. Under
``measure="norm"`` each layer's attention input is captured too (attncli.models.flows) and the scores
read each head's ||alpha_ij f(x_j)|| as a share of its row (:func:`norm_maps`). A batch that fails is
run again one text at a time, so one bad text is one error.

:func:`score_texts` is the loop: it tokenizes the texts a window at a time, groups the window by
:func:`bucket` (the width a text is padded to, a function of its own length only, so that its scores
are the same bit for bit whichever texts share its batch, in any shard), cuts each group into batches
under a size budget and scores them in this process, or with ``jobs`` > 1 also in ``jobs - 1``
worker processes (:class:`Pool`; ``spawn``, each loads the model once; every process uses cores/jobs
torch threads, and this one scores a batch whenever the workers have enough to do). It yields one result per line as batches finish: ``{"line", "tokens", "scores"}`` or ``{"line", "error"}``.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from typing import Callable, Iterable, Iterator

from attncli.core import detectors
from attncli.errors import AttnError, ExitCode

#: The scores a text gets (induction and duplicate need the repeated-token probe).
SCORES = detectors.TEXT_SCORES
#: Lines tokenized and sorted by length together.
WINDOW = 256
#: A batch holds at most this many texts, this many padded tokens, and this much attention (every layer's
#: (B, H, N, N) float weights are held until its forward pass ends).
MAX_BATCH = 16
MAX_BATCH_TOKENS = 4096
MAX_BATCH_MB = 512.0
#: A padded batch's forward has at least this many token rows (copies of its first text added, their
#: results dropped): the CPU matrix products of fewer rows (one text of 8 tokens) round differently.
MIN_ROWS = 32


def bucket(length: int) -> int:
    """The width a text of ``length`` tokens is padded to in a batch: ``length`` rounded up to a multiple of
    max(8, 2^(floor(log2 length) - 3)), at most 12.5% more tokens above 64 (65 -> 72, 200 -> 208, 300 -> 320).

    A function of the text's own length only: padded to the same width, a text gets the same float32 weights
    in any batch (batching is exact on CPU; the padding's width is what moves the last bits), so shards that
    batch other neighbours together still give every text the scores one unsharded run gives."""
    step = max(8, 1 << max(0, length.bit_length() - 4))
    return -(-length // step) * step


def error_dict(error: AttnError) -> dict:
    """An AttnError as plain data (what a record holds and what crosses a process boundary)."""
    return error.to_dict()


def error_of(data: dict) -> AttnError:
    """The inverse of :func:`error_dict`."""
    return AttnError(data["message"], where=data["where"], hint=data["hint"], kind=data["kind"],
                     code=ExitCode(data["exit_code"]))


def norm_maps(family, x, alpha, kv_heads: int):
    """``norm``'s maps for the head scores: x (N, d) the attention input, alpha (H, N, N) -> (1, H, N, N)
    float64, each head's c_ij = ||alpha_ij^h f^h(x_j)|| divided by its row's total (attncli.core.head_scan)."""
    from attncli.core.head_scan import score_maps
    from attncli.core.measures.layer import transformed_values
    from attncli.core.measures.scores import norm_per_head
    from attncli.models.flows import layer_parts

    parts = layer_parts(family, x, alpha, None, kv_heads)
    return score_maps(norm_per_head(alpha, transformed_values(parts))[None], "norm")  # (1, H, N, N)


class CorpusScorer:
    """A loaded model (attncli.models.Transformer) scoring batches of texts under ``measure`` (weights or norm)."""

    def __init__(self, transformer, measure: str = "weights") -> None:
        self.t = transformer
        info = transformer.info
        self.layers, self.heads, self.causal = int(info["layers"]), int(info["heads"]), bool(transformer.causal)
        self.measure = measure
        self.families = None
        if measure != "weights":
            from attncli.models.parts import family_layers

            self.families = family_layers(transformer)  # an unsupported family fails here, before any text

    def encode(self, text: str, where: str) -> list[int]:
        """The text's ids, checked against the model's length and attention limits (AttnError if not)."""
        ids = self.t.encode(text, where=where)
        if len(ids) < 2:
            raise AttnError(f"head scores need at least 2 tokens, got {len(ids)}", where=where, kind="text")
        self.t._check_ids(ids, where, rows=None, points=("pattern",))
        return ids

    def width(self, length: int) -> int | None:
        """The width a text of ``length`` tokens is padded to in a batch: its :func:`bucket`, at most the model's
        length limit; None (run alone, unpadded) for a text whose padded weights alone exceed the batch budget."""
        width = bucket(length)
        if self.t.max_tokens:
            width = min(width, int(self.t.max_tokens))
        return None if self.weights_mb(1, width) > MAX_BATCH_MB else width

    def weights_mb(self, batch: int, length: int) -> float:
        element = self.t.torch.empty((), dtype=self.t.dtype).element_size()
        return batch * self.layers * self.heads * length * length * element / 2**20

    def score_batch(self, items: list[tuple[int, list[int]]], width: int | None = None) -> list[dict]:
        """(line, ids) pairs, right-padded to ``width`` tokens (default: the longest) -> one result each (see
        the module's docstring); never raises AttnError. A batch that fails is run again a text at a time,
        each still padded to ``width``."""
        try:
            return self._forward(items, width)
        except (AttnError, RuntimeError, MemoryError) as exc:
            if len(items) > 1:
                return [result for item in items for result in self.score_batch([item], width)]
            error = exc if isinstance(exc, AttnError) else AttnError(
                f"the model failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                where=f"line {items[0][0]}", kind="model", code=ExitCode.FAILURE)
            return [{"line": items[0][0], "error": error_dict(error)}]

    def _forward(self, items: list[tuple[int, list[int]]], width: int | None) -> list[dict]:
        torch = self.t.torch
        lengths = [len(ids) for _, ids in items]
        rows = list(items)
        if width is not None:  # a padded batch: too few rows, and copies of the first text fill it up
            rows += [items[0]] * max(0, -(-MIN_ROWS // max(width, max(lengths))) - len(items))
        width = max(lengths) if width is None else max(width, *lengths)
        pad = self.t.tokenizer.pad_token_id
        pad = 0 if pad is None else int(pad)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)  # (B, N) right-padded
        mask = torch.zeros((len(rows), width), dtype=torch.long)  # (B, N) 1: a token, 0: padding
        for b, (_, row) in enumerate(rows):
            ids[b, :len(row)] = torch.tensor(row, dtype=torch.long)
            mask[b, :len(row)] = 1
        with ExitStack() as stack:
            cache = stack.enter_context(self.t.hooks(capture=("pattern",)))
            if self.families is not None:
                from attncli.models.flows import capture_inputs

                stack.enter_context(torch.no_grad())
                inputs, _calls = stack.enter_context(capture_inputs(self.families, list(range(self.layers))))
            self.t.forward(ids, backbone=True, attention_mask=mask.to(self.t.device))
        grids: list[dict] = [{name: [] for name in SCORES} for _ in items]
        for layer in range(self.layers):
            pattern = cache.get(layer, {}).get("pattern")
            if pattern is None:
                raise AttnError("the model's attention did not go through transformers' attention interface",
                                kind="model", hint="its architecture is not supported by attncli's capture points")
            if pattern.dim() == 3:  # a batch of one comes without its batch dimension
                pattern = pattern[None]
            for b, n in enumerate(lengths):
                block = pattern[b, :, :n, :n].float().cpu()[None]  # (1, H, n, n)
                if not bool(torch.isfinite(block).all()):
                    raise AttnError(f"non-finite values in the model's output ({self.t.dtype_name})",
                                    where=f"line {items[b][0]}", kind="numeric", code=ExitCode.FAILURE)
                if self.families is not None:
                    x = inputs[layer][b, :n]  # (n, d) this text's attention input
                    with torch.no_grad():
                        block = norm_maps(self.families[layer], x, pattern[b, :, :n, :n].to(x.dtype),
                                          int(self.t.info["kv_heads"])).cpu()  # (1, H, n, n)
                scores = detectors.score_all(block, causal=self.causal)
                for name in SCORES:
                    grids[b][name].append([float(v) for v in scores[name][0]])
        return [{"line": line, "tokens": n, "scores": grid} for (line, _), n, grid in zip(items, lengths, grids)]


def batches(items: list[tuple[int, list[int]]], fits: Callable[[int, int], bool],
            pad: Callable[[int], int | None]) -> list[tuple[int | None, list]]:
    """Items grouped by ``pad(length)`` (the width they are padded to; None: their own length, each alone),
    widest first, each group cut into (width, items) batches where ``fits(count, width)``."""
    ordered = sorted(items, key=lambda item: (-len(item[1]), item[0]))
    out: list[tuple[int | None, list]] = []
    for item in ordered:
        width = pad(len(item[1]))
        if out and width is not None and out[-1][0] == width and fits(len(out[-1][1]) + 1, width):
            out[-1][1].append(item)
        else:
            out.append((width, [item]))
    return out


def _fits(scorer: CorpusScorer, max_batch: int):
    def fits(count: int, longest: int) -> bool:
        return (count <= max_batch and count * longest <= MAX_BATCH_TOKENS
                and scorer.weights_mb(count, longest) <= MAX_BATCH_MB)
    return fits


# ----------------------------------------------------------------------------- workers

_WORKER: list = []


def _start_worker(spec: str, device: str, dtype: str, bos, measure: str, threads: int) -> None:
    from attncli.core.devices import import_torch
    from attncli.models.runs import ModelAttention

    import_torch().set_num_threads(threads)
    _WORKER.append(CorpusScorer(ModelAttention(spec, device=device, dtype=dtype, bos=bos).transformer, measure))


def _ready() -> None:
    """A worker's first task: nothing, so that submitting it starts the worker (and its model load) now."""


def _work(batch: tuple[int | None, list]) -> list[dict]:
    width, items = batch
    return _WORKER[0].score_batch(items, width)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Pool:
    """``jobs - 1`` spawned workers beside this process, which scores batches too; results as they finish.

    Each of the ``jobs`` processes uses ``threads`` = cores / jobs torch threads. The workers start, and
    load ``model`` = (spec, device, dtype, bos, measure), as soon as the pool is made: make it before
    loading the model in this process, so that the loads overlap. :meth:`close` it."""

    def __init__(self, jobs: int, model: tuple) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        workers = max(1, jobs - 1)
        self.threads = max(1, cores() // jobs)
        self.executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_start_worker, initargs=(*model, self.threads))
        self.limit = 2 * workers  # one batch running and one waiting per worker
        self.pending: set = set()
        for _ in range(workers):  # one task each starts every worker now (the executor starts them on demand)
            self.executor.submit(_ready)

    def busy(self) -> bool:
        """Every worker has a batch running and one waiting: score the next one in this process."""
        return len(self.pending) >= self.limit

    def submit(self, batch: tuple) -> None:
        self.pending.add(self.executor.submit(_work, batch))

    def ready(self) -> Iterator[dict]:
        """The results of the batches that have finished, without waiting."""
        done = {future for future in self.pending if future.done()}
        self.pending -= done
        for future in done:
            yield from self._result(future)

    def drain(self) -> Iterator[dict]:
        from concurrent.futures import FIRST_COMPLETED, wait

        while self.pending:
            done, self.pending = wait(self.pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield from self._result(future)

    @staticmethod
    def _result(future) -> list[dict]:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return future.result()
        except BrokenProcessPool:
            raise AttnError("a worker process died (out of memory?)", kind="memory", code=ExitCode.FAILURE,
                            hint="use fewer jobs") from None

    def close(self, *, failed: bool = False) -> None:
        """Stop the workers: after the last batch, or (``failed``) at once, a model load still under way killed."""
        for future in self.pending:
            future.cancel()
        if failed:
            for process in list(getattr(self.executor, "_processes", {}).values()):
                process.terminate()
        self.executor.shutdown(wait=True, cancel_futures=True)


def score_texts(scorer: CorpusScorer, lines: Iterable, *, label: str = "line", pool: Pool | None = None,
                max_batch: int = MAX_BATCH) -> Iterator[dict]:
    """Every line ((number, text or None, AttnError or None)) -> its result, as batches finish.

    ``scorer`` tokenizes and scores; with a ``pool`` (:class:`Pool`, the caller's to close) it hands each batch
    to a worker unless they all have enough to do, and scores it itself then.
    """
    fits = _fits(scorer, max_batch)
    pad = scorer.width if max_batch > 1 else (lambda length: None)  # --batch 1: each text alone, unpadded
    torch = scorer.t.torch
    threads = torch.get_num_threads()
    if pool is not None:
        torch.set_num_threads(pool.threads)  # this process is one of the jobs
    try:
        window: list = []
        for number, text, error in lines:
            if error is None:
                try:
                    window.append((number, scorer.encode(text, where=f"{label}:{number}")))
                except AttnError as problem:
                    error = problem
            if error is not None:
                yield {"line": number, "error": error_dict(error)}
            if len(window) >= WINDOW:
                yield from _run(scorer, pool, batches(window, fits, pad))
                window = []
        yield from _run(scorer, pool, batches(window, fits, pad))
        if pool is not None:
            yield from pool.drain()
    finally:
        torch.set_num_threads(threads)


def _run(scorer: CorpusScorer, pool: Pool | None, groups: list[tuple[int | None, list]]) -> Iterator[dict]:
    for width, items in groups:
        if pool is None:
            yield from scorer.score_batch(items, width)
            continue
        yield from pool.ready()
        if pool.busy():  # the workers have enough to do: this process scores the batch itself
            yield from scorer.score_batch(items, width)
        else:
            pool.submit((width, items))
