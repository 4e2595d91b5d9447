"""Everything ``attncli browse`` shows, computed once when it opens: the only module that runs attention.

The app reads plain :class:`BrowseData` (tensors on the CPU, float32) and never recomputes:
moving the cursor, the layer or the head only indexes these tensors. ``document(layer, mode)``
is the one lazy part: it builds the ``run --json`` document of a layer when ``e`` is pressed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from attncli.errors import AttnError
from attncli.textsafe import visible

#: All lines of a browse session together may hold at most this much attention data (MiB).
BUDGET_MB = 1024.0


@dataclass
class BrowseLine:
    """One text, every layer and head of it."""

    label: str  # where it came from: "TEXT", "context 2", "notes.txt:3"
    text: str
    tokens: list[str]  # display text (control characters escaped)
    special: list[bool]
    oov: list[bool]
    causal: bool
    weights: object  # (L, H, N, N) float32 on the CPU
    contexts: object  # (L, N, d) float32: the context vectors (a model's attention sublayer output)
    rollout: object | None  # (N, N) attention rollout through the layers, models only
    scores: object | None  # (L, H, N, N) what enters the softmax (-inf where masked), toy runs only
    document: Callable[[int, str], dict]  # (layer, mode) -> the run --json document of that layer

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


def toy_data(texts: list[tuple[str, str]], attn) -> BrowseData:
    """``texts``: (label, text) pairs through toy attention (``attn``: AttentionOptions); no text: a tensors config."""
    from attncli.result import to_document

    settings = attn.settings()
    model = attn.model(settings)
    a = settings.attention
    lines: list[BrowseLine] = []
    notes: list[str] = []
    total = 0
    failed: list[AttnError] = []
    for label, text in texts or [("config", None)]:
        try:
            result = model.run(text, where=label) if text is not None else model.run_tensors()
        except AttnError as error:
            if len(texts) < 2:
                raise
            failed.append(error)
            notes.append(f"skipped {error.line()}")
            continue
        notes += [f"{label}: {note}" for note in model.notes]
        unknown = [t for t, missing in zip(result.tokens, result.oov) if missing]
        if unknown:
            notes.append(f"{label}: not in the vocabulary, given stable hashed vectors: "
                         + ", ".join(dict.fromkeys(visible(t) for t in unknown)))
        t = result.trace
        weights = t.weights.detach().float().cpu()[None]  # (1, H, N, N)
        scores = t.scores.detach().float().cpu()[None]  # (1, H, N, N)
        total += weights.numel() * 8
        _check_budget(total, label)

        def document(layer: int, mode: str, result=result) -> dict:
            return to_document(result)

        lines.append(BrowseLine(
            label=label, text=text if text is not None else " ".join(result.tokens),
            tokens=[visible(tok) for tok in result.tokens], special=[False] * len(result.tokens),
            oov=list(result.oov), causal=bool(a.causal), weights=weights,
            contexts=t.context.detach().float().cpu()[None],  # (1, N, d)
            rollout=None, scores=scores, document=document))
    if not lines:
        raise failed[0]
    if a.scale is True:
        scale = f"scaled by sqrt({settings.d_k // a.heads})"
    elif a.scale is False:
        scale = "raw dot product"
    else:
        scale = f"divided by {a.scale:g}"
    parts = [f"{a.heads} head{'s' if a.heads != 1 else ''}", scale] + (["causal"] if a.causal else [])
    from attncli.engine import device_label

    parts.append(f"{settings.dtype} on {device_label(model.device)}")
    return BrowseData(lines=lines, model=None, layers=1, heads=a.heads, description=" · ".join(parts), notes=notes)


def model_data(texts: list[tuple[str, str]], attn, mdl) -> BrowseData:
    """``texts`` through a real model (``mdl``: ModelOptions, loaded once)."""
    import torch

    from attncli.models import model_document, rollout

    transformer = mdl.load(attn)
    lines: list[BrowseLine] = []
    notes: list[str] = []
    total = 0
    run = None
    failed: list[AttnError] = []
    for label, text in texts:
        try:
            run = transformer.run(text, where=label)
        except AttnError as error:
            if len(texts) < 2:
                raise
            failed.append(error)
            notes.append(f"skipped {error.line()}")
            continue
        notes += [f"{label}: {note}" for note in run.notes]
        weights = torch.stack([w.detach().float().cpu() for w in run.attentions])  # (L, H, N, N)
        contexts = torch.stack([c.detach().float().cpu() for c in run.attention_outputs])  # (L, N, d)
        total += weights.numel() * 4 + contexts.numel() * 4
        _check_budget(total, label)

        def document(layer: int, mode: str, run=run) -> dict:
            return model_document(run, transformer, layer=str(layer), heads_mean=mode == "mean",
                                  use_rollout=mode == "rollout", focus=None, top_k=None, precision=None)

        lines.append(BrowseLine(
            label=label, text=text, tokens=[visible(tok) for tok in run.tokens], special=list(run.special),
            oov=[False] * len(run.tokens), causal=bool(getattr(transformer.model.config, "is_decoder", False)),
            weights=weights, contexts=contexts, rollout=rollout(run.attentions).float().cpu(),  # (N, N)
            scores=None, document=document))
    if not lines:
        raise failed[0]
    description = (f"model {run.name} ({run.architecture}) · {run.layers} layers · {run.heads} heads · "
                   f"{run.dtype} on {run.device}")
    return BrowseData(lines=lines, model=run.name, layers=run.layers, heads=run.heads, description=description,
                      notes=notes)
