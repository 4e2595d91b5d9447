"""Everything ``attncli browse`` shows, computed once when it opens: the only module that runs attention.

One :class:`attncli.core.record.Record` per text (toy or model alike), each seen as a
:class:`Line` (the record, its label, its layers stacked on the CPU in float32); the app never recomputes: moving the cursor,
the layer or the head only indexes these tensors. Two parts are lazy: ``document(layer, mode)`` builds
the ``run --json`` document of a layer (attncli.documents.build) when ``e`` is pressed, and
:meth:`BrowseData.under` runs a line once more under another measure (attncli.core.measures, through
the runner's own ``run(measure=...)``, as ``run --measure`` does) the first time the measure key asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from attncli.core.record import Record
from attncli.errors import AttnError
from attncli.core.numbers import plural
from attncli.documents.tokens_display import display_tokens
from attncli.io.textsafe import visible

#: All lines of a browse session together may hold at most this much attention data (MiB).
BUDGET_MB = 1024.0


class Line:
    """One text of the browser: its :class:`~attncli.core.record.Record` and where it came from.

    A view, not a copy: the tokens and flags are the record's; the tensors the app indexes are the
    record's layers stacked once, on the CPU in float32 (moving the cursor never recomputes).
    """

    def __init__(self, record: Record, label: str, source: str | None = None) -> None:
        self.record = record
        self.label = label  # where it came from: "TEXT", "context 2", "notes.txt:3"
        self.source = source  # the text as given (None: a tensors config), to run it under another measure
        self.measure = getattr(record, "measure", None) or "weights"
        self.rows = None  # the rows' labels when they are not the tokens (browse --generate: GenLine)
        self.offset = 0  # the token of row 0
        model = record.source == "model"
        # as views show them (attncli.documents.tokens_display: ␣the, not Ġthe), control characters escaped
        self.tokens = display_tokens(record.tokens) if model else [visible(token) for token in record.tokens]
        self.raw = list(record.tokens)  # the tokenizer's own strings (what focus and / match)
        self.weights = _cpu([layer.weights for layer in record.layers])  # (L, H, N, N); (L, 1, N, N) headless
        # norm: the layer-level values (all heads together, in place of a head mean), (L, 1, N, N)
        has_level = self.measure != "weights" and all(layer.level is not None for layer in record.layers)
        self.level = _cpu([layer.level for layer in record.layers]) if has_level else None
        self.contexts = _cpu([layer.output for layer in record.layers])  # (L, N, d): a model's sublayer output
        has_scores = all(layer.scores is not None for layer in record.layers)
        self.scores = _cpu([layer.scores for layer in record.layers]) if has_scores else None  # (L, H, N, N)
        # (N, N) attention rollout through the layers, models only
        self.rollout = record.rollout.detach().float().cpu() if record.rollout is not None else None

    @property
    def text(self) -> str:
        return self.record.text if self.record.text is not None else " ".join(self.record.tokens)

    @property
    def special(self) -> list[bool]:
        return self.record.special

    @property
    def oov(self) -> list[bool]:
        return self.record.oov

    @property
    def causal(self) -> bool:
        return bool(self.record.causal)

    @property
    def n(self) -> int:
        return self.record.n

    @property
    def nbytes(self) -> int:
        tensors = [t for t in (self.weights, self.level, self.contexts, self.scores) if t is not None]
        return sum(t.numel() for t in tensors) * 4

    def document(self, layer: int, mode: str) -> dict:
        """The run --json document of ``layer`` as the browser shows it (mode: head, mean, rollout)."""
        from attncli.documents.build import run_document

        model = self.record.source == "model"
        return run_document(self.record, layers=[layer], heads_mean=model and mode == "mean",
                            rollout=model and mode == "rollout")


@dataclass
class BrowseData:
    """What the app shows: one or more lines (a --file, or the contexts of --compare)."""

    lines: list[Line]
    model: str | None  # a real model's name, None for toy attention
    layers: int
    heads: int
    description: str  # one line: heads, scaling, dtype and device
    notes: list[str] = field(default_factory=list)  # warnings to show once the app opens
    runner: object = None  # what made the lines: runs a line again under another measure
    run_kwargs: dict = field(default_factory=dict)  # the model-only options of those runs (ablation, passes)
    _under: dict = field(default_factory=dict, repr=False)  # (line index, measure) -> Line

    def under(self, index: int, measure: str) -> Line:
        """Line ``index`` under ``measure``: computed once (an AttnError, e.g. value zeroing over its
        budget of passes, is raised to the caller), then kept."""
        line = self.lines[index]
        if measure == line.measure:
            return line
        key = (index, measure)
        if hasattr(line, "slide"):  # a window of rows (attncli.browse.window): measures have no row path
            raise AttnError(f"{measure} needs every row of every layer, and this text is shown a window of rows "
                            "at a time", where=line.label, kind="budget", hint="shorten the text to see it")
        if key not in self._under:
            from attncli.core import measures

            rollout = self.model is not None and measures.normalized(measure)  # alti and value zeroing roll out
            kwargs = dict(self.run_kwargs) if self.model is not None else {}
            record = self.runner.run(line.source, where=line.label, rollout=rollout, measure=measure, **kwargs)
            measured = Line(record, line.label, line.source)
            kept = sum(one.nbytes for one in self.lines) + sum(one.nbytes for one in self._under.values())
            _check_budget(kept + measured.nbytes, line.label)
            self._under[key] = measured
        return self._under[key]


def _check_budget(total_bytes: int, label: str) -> None:
    if total_bytes > BUDGET_MB * 2**20:
        raise AttnError(f"the attention data of these lines needs more than {BUDGET_MB:.0f} MiB", where=label,
                        kind="budget", hint="browse fewer or shorter lines")


def _cpu(tensors: list):
    """A list of equally shaped tensors as one float32 CPU tensor, stacked on a new first axis."""
    import torch

    return torch.stack([t.detach().float().cpu() for t in tensors])


def load(texts: list[tuple[str, str | None]], runner, *, measure: str = "weights", run_kwargs: dict | None = None,
         progress=None) -> BrowseData:
    """``texts``: (label, text) pairs through ``runner``, toy attention or a model (loaded once), one
    Record each, under ``measure`` (attncli.core.measures; ``run_kwargs``: a model's ``max_passes``,
    ``ablate`` and ``ablate_mode``; ``progress(done, total)``: value zeroing's passes).

    No texts with a tensors config: the config's own query, key and value. A line that fails is
    skipped with a note when there are others (a file of lines); a single text's error is raised.
    (A long text's window of rows: attncli.browse.window.load.)
    """
    model = runner.config.get("source_kind") == "model"
    lines: list[Line] = []
    notes: list[str] = []
    failed: list[AttnError] = []
    total = 0
    record = None
    kwargs = dict(run_kwargs or {}) if model else {}
    if measure != "weights":
        from attncli.core import measures

        kwargs.update(measure=measure, **({"progress": progress} if model and progress is not None else {}))
        rollout = model and measures.normalized(measure)
    else:
        rollout = model
    for label, text in texts or [("config", None)]:
        try:
            record = runner.run(text, where=label, rollout=rollout, **kwargs, **({"hint": "browse"} if model else {}))
        except AttnError as error:
            if len(texts) < 2:
                raise
            failed.append(error)
            notes.append(f"skipped {error.line()}")
            continue
        unknown = [t for t, missing in zip(record.tokens, record.oov) if missing]
        if unknown:
            notes.append(f"{label}: not in the vocabulary, given stable hashed vectors: "
                         + ", ".join(dict.fromkeys(visible(t) for t in unknown)))
        notes += [f"{label}: {note}" for note in record.warnings]
        line = Line(record, label, text)
        total += line.nbytes
        _check_budget(total, label)
        lines.append(line)
    if not lines:
        raise failed[0]
    return BrowseData(lines=lines, model=record.name if model else None, layers=len(record.layers),
                      heads=_heads(record), description=describe(record), notes=notes, runner=runner,
                      run_kwargs={k: v for k, v in (run_kwargs or {}).items() if k != "progress"})


def _heads(record) -> int:
    """The attention heads (a headless measure's record says 1; its softmax weights keep them)."""
    first = record.layers[0]
    return int(first.attention.shape[0]) if first.attention is not None else record.heads


def describe(record) -> str:
    """One line: what computed the attention (model or toy settings), dtype and device."""
    config = record.config
    where = f"{config['dtype']} on {config['device']}"
    if record.source == "model":
        m = config["model"]
        return f"model {m['name']} ({m['architecture']}) · {m['layers']} layers · {m['heads']} heads · {where}"
    a = config["attention"]
    from attncli.render.display import scale_phrase

    scale = scale_phrase(a)
    parts = [plural(a["heads"], "head"), scale] + (["causal"] if a["causal"] else [])
    return " · ".join(parts + [where])
