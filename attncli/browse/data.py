"""Everything ``attncli browse`` shows, computed once when it opens: the only module that runs attention.

One :class:`attncli.core.record.Record` per text (toy or model alike) becomes plain
:class:`BrowseData` (tensors on the CPU, float32); the app never recomputes: moving the cursor,
the layer or the head only indexes these tensors. ``document(layer, mode)`` is the one lazy
part: it builds the ``run --json`` document of a layer (attncli.documents.build) when ``e`` is pressed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from attncli.errors import AttnError
from attncli.documents.tokens_display import display_tokens
from attncli.io.textsafe import visible

#: All lines of a browse session together may hold at most this much attention data (MiB).
BUDGET_MB = 1024.0


@dataclass
class BrowseLine:
    """One text, every layer and head of it."""

    label: str  # where it came from: "TEXT", "context 2", "notes.txt:3"
    text: str
    tokens: list[str]  # as views show them (attncli.documents.tokens_display: ␣the, not Ġthe)
    special: list[bool]
    oov: list[bool]
    causal: bool
    weights: object  # (L, H, N, N) float32 on the CPU
    contexts: object  # (L, N, d) float32: the context vectors (a model's attention sublayer output)
    rollout: object | None  # (N, N) attention rollout through the layers, models only
    scores: object | None  # (L, H, N, N) what enters the softmax (-inf where masked), toy runs only
    document: Callable[[int, str], dict]  # (layer, mode) -> the run --json document of that layer
    raw: list[str] = field(default_factory=list)  # the tokenizer's own strings (what --focus and / match)

    @property
    def n(self) -> int:
        return len(self.tokens)


@dataclass
class BrowseData:
    """What the app shows: one or more lines (a --file, or the contexts of --compare)."""

    lines: list[BrowseLine]
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


def load(texts: list[tuple[str, str | None]], attn, mdl=None) -> BrowseData:
    """``texts``: (label, text) pairs through toy attention or ``--model`` (loaded once).

    ``attn`` and ``mdl`` are the command's AttentionOptions and ModelOptions (None: toy). No texts with a
    tensors config: the config's own query, key and value. A line that fails is skipped with a
    note when there are others (a --file); a single text's error is raised.
    """
    from attncli.documents.build import run_document

    model = mdl is not None and mdl.model is not None
    runner = mdl.runner(attn) if mdl is not None else attn.toy()
    lines: list[BrowseLine] = []
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
        weights = _cpu([layer.weights for layer in record.layers])  # (L, H, N, N)
        contexts = _cpu([layer.output for layer in record.layers])  # (L, N, d)
        has_scores = all(layer.scores is not None for layer in record.layers)
        scores = _cpu([layer.scores for layer in record.layers]) if has_scores else None  # (L, H, N, N)
        total += (weights.numel() + contexts.numel() + (scores.numel() if scores is not None else 0)) * 4
        _check_budget(total, label)

        def document(layer: int, mode: str, record=record) -> dict:
            return run_document(record, layers=[layer], heads_mean=model and mode == "mean",
                                rollout=model and mode == "rollout")

        lines.append(BrowseLine(
            label=label, text=text if text is not None else " ".join(record.tokens),
            tokens=display_tokens(record.tokens) if model else [visible(tok) for tok in record.tokens],
            raw=list(record.tokens), special=list(record.special), oov=list(record.oov),
            causal=bool(record.causal), weights=weights, contexts=contexts,
            rollout=record.rollout.detach().float().cpu() if record.rollout is not None else None,  # (N, N)
            scores=scores, document=document))
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
    parts = [f"{a['heads']} head{'s' if a['heads'] != 1 else ''}", scale] + (["causal"] if a["causal"] else [])
    return " · ".join(parts + [where])
