"""Everything ``attncli browse`` shows, computed once when it opens: the only module that runs attention.

One :class:`attncli.core.record.Record` per text (toy or model alike), each seen as a
:class:`Line` (the record, its label, its layers stacked on the CPU in float32); the app never recomputes: moving the cursor,
the layer or the head only indexes these tensors. ``document(layer, mode)`` is the one lazy
part: it builds the ``run --json`` document of a layer (attncli.documents.build) when ``e`` is pressed.
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

    def __init__(self, record: Record, label: str) -> None:
        self.record = record
        self.label = label  # where it came from: "TEXT", "context 2", "notes.txt:3"
        model = record.source == "model"
        # as views show them (attncli.documents.tokens_display: ␣the, not Ġthe), control characters escaped
        self.tokens = display_tokens(record.tokens) if model else [visible(token) for token in record.tokens]
        self.raw = list(record.tokens)  # the tokenizer's own strings (what focus and / match)
        self.weights = _cpu([layer.weights for layer in record.layers])  # (L, H, N, N)
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
        tensors = [t for t in (self.weights, self.contexts, self.scores) if t is not None]
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


def _check_budget(total_bytes: int, label: str) -> None:
    if total_bytes > BUDGET_MB * 2**20:
        raise AttnError(f"the attention data of these lines needs more than {BUDGET_MB:.0f} MiB", where=label,
                        kind="budget", hint="browse fewer or shorter lines")


def _cpu(tensors: list):
    """A list of equally shaped tensors as one float32 CPU tensor, stacked on a new first axis."""
    import torch

    return torch.stack([t.detach().float().cpu() for t in tensors])


def load(texts: list[tuple[str, str | None]], runner) -> BrowseData:
    """``texts``: (label, text) pairs through ``runner``, toy attention or a model (loaded once), one
    Record each.

    No texts with a tensors config: the config's own query, key and value. A line that fails is
    skipped with a note when there are others (a file of lines); a single text's error is raised.
    """
    model = runner.config.get("source_kind") == "model"
    lines: list[Line] = []
    notes: list[str] = []
    failed: list[AttnError] = []
    total = 0
    record = None
    for label, text in texts or [("config", None)]:
        try:
            record = runner.run(text, where=label, rollout=model)
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
        line = Line(record, label)
        total += line.nbytes
        _check_budget(total, label)
        lines.append(line)
    if not lines:
        raise failed[0]
    return BrowseData(lines=lines, model=record.name if model else None, layers=len(record.layers),
                      heads=record.heads, description=describe(record), notes=notes)


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
