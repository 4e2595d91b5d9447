"""A window of query rows: how ``attncli browse`` shows a text too long for its every row of every layer.

A long text's full attention is L x H x N x N weights (SmolLM2 on 8,192 tokens: 69 GiB). The browser
holds instead the rows of one window, ``[start, stop)`` (at most :data:`WINDOW_ROWS`), computed by the
library's row path (:meth:`attncli.models.runs.ModelAttention.run_rows`: the model runs on SDPA and
only those rows' weights are computed, from the captured queries and keys); moving the cursor past an
edge of the window computes the window that holds the new row. Held at once: one window's weights
(L, H, W, N) and context vectors (L, W, d) in float32, the layers' inputs of its rows (L, W, d), and
the tokens; never anything N x N.
"""

from __future__ import annotations

from attncli.browse.data import BUDGET_MB, BrowseData, Line, _heads, describe
from attncli.browse.data import load as load_whole
from attncli.core.numbers import plural
from attncli.documents.tokens_display import display_tokens
from attncli.errors import AttnError, option

#: The most query rows one window holds (fewer when the budget allows fewer).
WINDOW_ROWS = 64


def full_bytes(info: dict, n: int) -> int:
    """What the browser would hold for every row: (L, H, N, N) weights and (L, N, d) contexts, float32."""
    layers, heads, width = int(info["layers"]), int(info["heads"]), int(info["d_model"])
    return 4 * layers * n * (heads * n + width)


def window_size(transformer, n: int, budget_mb: float, most: int | None = None) -> int:
    """Rows per window: ``most`` (default :data:`WINDOW_ROWS`), fewer where browse's budget (``budget_mb``)
    or the model's limit on attention (weights and scores of every layer, as the row path counts them)
    holds fewer."""
    info = transformer.info
    layers, heads, width = int(info["layers"]), int(info["heads"]), int(info["d_model"])
    element = transformer.torch.empty((), dtype=transformer.dtype).element_size()
    held = 4 * layers * (heads * n + 2 * width)  # one row: its weights, context and input (float32)
    computed = 2 * element * layers * heads * n  # one row's weights and scores while the model runs
    fits = min(budget_mb * 2**20 // held, transformer.max_attention_mb * 2**20 // computed)
    return int(max(0, min(n, most or WINDOW_ROWS, fits)))


class WindowLine(Line):
    """A long text as the browser's line: its tokens, and the rows of one window of queries.

    A :class:`attncli.browse.data.Line` whose ``weights`` is (L, H, W, N) and ``contexts`` (L, W, d)
    for the rows ``offset`` .. ``offset + W - 1``; ``rows`` are those rows' tokens. :meth:`slide` computes
    the window that holds a given token.
    """

    measure = "weights"
    level = scores = rollout = None

    def __init__(self, runner, text: str, label: str, *, size: int, start: int = 0, ids=None) -> None:  # noqa: D107
        # not Line.__init__: that stacks a whole record's rows; here _load stacks a window's
        self.runner = runner
        self.source = text
        self.label = label
        self.ids = list(ids) if ids is not None else runner.transformer.encode(text, where=label)
        self.raw = runner.transformer.tokenizer.convert_ids_to_tokens(self.ids)  # the tokenizer's strings
        self.tokens = display_tokens(self.raw)
        self.size = size
        self.record = None
        self.loads = 0  # windows computed so far (the first included)
        self._load(self._clamp(start))

    # -- what Line has (the flags, nbytes and text come from the record, as there)
    @property
    def n(self) -> int:
        return len(self.ids)  # known before the first window's record

    @property
    def stop(self) -> int:
        return self.offset + len(self.rows)

    def document(self, layer: int, mode: str) -> dict:
        """``run --rows START:STOP --json``'s document of ``layer`` (mode: head or mean)."""
        from attncli.documents.build import run_document

        return run_document(self.record, layers=[layer], heads_mean=mode == "mean")

    def shown(self) -> str:
        """Which rows the window holds: ``rows 1,024-1,087 of 8,192`` (0-based, both ends included)."""
        return self.rows_from(self.offset)

    # -- the window
    def window_of(self, token: int) -> int | None:
        """The first row of the window that holds ``token`` (0 .. N-1), None when this one does: the next
        window when it is just past an edge (it starts, or ends, there), else one centred on it."""
        if self.offset <= token < self.stop:
            return None
        if token == self.stop:
            return self._clamp(token)
        if token == self.offset - 1:
            return self._clamp(token - self.size + 1)
        return self._clamp(token - self.size // 2)

    def rows_from(self, start: int) -> str:
        """``rows 1,024-1,087 of 8,192``: the window that starts at ``start``."""
        return f"rows {start:,}-{min(self.n, start + self.size) - 1:,} of {self.n:,}"

    def slide(self, token: int) -> bool:
        """Make the window hold ``token``; True when a new window was computed."""
        start = self.window_of(token)
        if start is None:
            return False
        self._load(start)
        return True

    def _clamp(self, start: int) -> int:
        return max(0, min(start, self.n - self.size))

    def _load(self, start: int) -> None:
        import torch

        rows = list(range(start, min(self.n, start + self.size)))
        self.record = None  # the old window goes before the new one is computed
        self.weights = self.contexts = None
        record = self.runner.run_rows(self.ids, rows, where=self.label, text=self.source)
        self.weights = torch.stack([layer.weights.detach().float().cpu() for layer in record.layers])  # (L, H, W, N)
        self.contexts = torch.stack([layer.output.detach().float().cpu() for layer in record.layers])  # (L, W, d)
        for index, layer in enumerate(record.layers):  # the record's tensors become views of the stacked ones
            layer.weights, layer.output = self.weights[index], self.contexts[index]
            if layer.inputs is not None and layer.inputs.shape[0] == self.n:
                layer.inputs = layer.inputs[rows]  # (W, d): the rows' inputs, as a --rows run's document has them
        record.embeddings = record.layers[0].inputs
        self.record = record
        self.offset = start
        self.rows = self.tokens[start:start + len(rows)]
        self.loads += 1


def describe_window(line: WindowLine) -> str:
    """The note shown when the browser opens on a window."""
    return (f"{line.label}: {plural(line.n, 'token')} are too many for every row of every layer; "
            f"the browser computes {plural(line.size, 'row')} at a time (← → past an edge: the next ones)")


def load(texts: list[tuple[str, str | None]], runner, *, rows: str | None = None, focus: str | None = None,
         rollout: bool = False, measure: str = "weights", run_kwargs: dict | None = None, progress=None) -> BrowseData:
    """What ``attncli browse`` opens: one text on a model whose every row of every layer would not fit
    (the model's limit or :data:`attncli.browse.data.BUDGET_MB`), or any with ``rows`` (``A:B``), as a
    window of query rows opening on ``rows`` or around ``focus``; else every line whole
    (attncli.browse.data.load, with ``measure``, ``run_kwargs`` and ``progress``). ``rollout``: asked
    for, as are a measure and an ablation (they need every row: a long text is then refused).
    """
    if runner.config.get("source_kind") == "model" and len(texts) == 1:
        plain = measure == "weights" and not rollout and not (run_kwargs or {}).get("ablate")
        windowed = _windowed(texts[0], runner, rows=rows, focus=focus, plain=plain)
        if windowed is not None:
            return windowed
    if rows is not None:
        raise AttnError(f"{option('rows')} opens a window of rows of one text", param="rows",
                        hint=f"give one TEXT (or {option('file')} PATH {option('join')})")
    return load_whole(texts, runner, measure=measure, run_kwargs=run_kwargs, progress=progress)


def _windowed(item: tuple[str, str | None], runner, *, rows: str | None, focus: str | None,
              plain: bool) -> BrowseData | None:
    """A long text (or ``rows``) as a window of rows, if it is one; None: every row fits, browse it whole."""
    from attncli.core import focus as focus_grammar

    label, text = item
    if text is None:
        return None
    transformer = runner.transformer
    ids = transformer.encode(text, where=label)
    n = len(ids)
    if rows is None and runner._fits(ids, label) and full_bytes(transformer.info, n) <= BUDGET_MB * 2**20:
        return None
    if not plain:
        return None  # measures, rollout and ablation need every row: the full path refuses with its hint
    tokens = transformer.tokenizer.convert_ids_to_tokens(ids)
    picked = focus_grammar.row_range(rows, n) if rows is not None else None
    size = window_size(transformer, n, BUDGET_MB, most=len(picked) if picked else None)
    if size < 1 or (picked is not None and size < len(picked)):
        where, what = (option("rows"), plural(len(picked), "row")) if picked else (label, "1 row")
        raise AttnError(f"{what} of {n:,} tokens {'do' if picked and len(picked) > 1 else 'does'} not fit the memory budget of browse "
                        f"({BUDGET_MB:,.0f} MiB) or the model's limit on attention weights", where=where,
                        kind="budget", hint=f"at most {size} rows fit" if size else "shorten the text")
    if picked is not None:
        start = picked[0]
    elif focus is not None:
        at = focus_grammar.hits(focus_grammar.parse(focus), tokens, every=False)[0].index
        start = at - size // 2
    else:
        start = 0
    line = WindowLine(runner, text, label, size=size, start=start, ids=ids)
    record = line.record
    return BrowseData(lines=[line], model=record.name, layers=len(record.layers), heads=_heads(record),
                      description=describe(record), notes=[describe_window(line)] + list(record.warnings),
                      runner=runner)
