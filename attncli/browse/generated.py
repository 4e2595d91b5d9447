"""``browse --generate``: a generation (attncli.models.generation) seen as a line of the browser.

The rows are the steps (the tokens the model wrote), the keys every token of the text (the prompt,
then what was written): step k's row is the attention of the forward that produced token k, over
the ``position`` tokens before it (its query is the token before it), the rest masked (-inf).
Computed once by the library's ``generate``; stepping with ``n`` / ``p`` only indexes the tensor.

An encoder-decoder model (T5, BART, Marian) gives two lines: the decoder's self-attention (keys: its
start token, then what was written) and its cross-attention (keys: the source the encoder read, every
one visible to every step). ``a`` switches between them (:func:`switch_attention`), on the same step.
"""

from __future__ import annotations

import math

from attncli.browse.data import BrowseData
from attncli.core.numbers import plural
from attncli.documents.tokens_display import display_tokens
from attncli.errors import option

#: The labels of an encoder-decoder model's two lines (the title names the one shown).
SELF, CROSS = "self-attention", "cross-attention"


class GenLine:
    """A generation as the browser's line: ``weights`` (L, H, K, T) for K steps over T keys.

    ``cross``: the keys are the source's tokens (T = S) and the rows step k's cross-attention rows.
    ``raw`` is then the source's tokens and the written ones after them, so that ``/`` finds a
    written token (``offset + k``) as it does on the self-attention line; the strip marks none.
    """

    measure = "weights"
    contexts = scores = rollout = level = None

    def __init__(self, generation, label: str = "PROMPT", *, cross: bool = False) -> None:
        import torch

        self.generation = generation
        self.label = label
        self.cross = cross
        self.causal = not cross  # every step sees the whole source
        self.source = generation.prompt
        steps = generation.steps
        written = [s.token for s in steps]
        if cross:
            keys = list(generation.source_tokens)
            self.raw = keys + written  # the tokenizer's strings (what / matches): the source, then the rows
            self.special = list(generation.source_special or [False] * len(keys))
        else:
            keys = list(generation.tokens)
            self.raw = list(keys)
            self.special = list(generation.prompt_special) + [s.special for s in steps]
        self.tokens = display_tokens(keys)
        self.offset = len(self.raw) - len(steps)  # step k wrote raw token offset + k
        self.rows = display_tokens(written)  # the rows' labels: the tokens written
        layers = list(generation.layers)
        rows = [(s.cross if cross else s.attention) for s in steps]  # per step: layer -> (H, keys seen)
        heads = int(rows[0][layers[0]].shape[0]) if steps else int(generation.heads)
        self.layers = layers
        weights = torch.full((len(layers), heads, len(steps), len(self.tokens)), -math.inf)  # (L, H, K, T)
        for k, step_rows in enumerate(rows):
            for index, layer in enumerate(layers):
                row = step_rows[layer].detach().float().cpu()  # (H, position) or (H, S)
                weights[index, :, k, :row.shape[-1]] = row
        self.weights = weights
        self.oov = [False] * len(self.tokens)

    @property
    def text(self) -> str:
        if self.generation.source_ids is not None:
            return self.generation.prompt if self.cross else self.generation.text()
        return self.generation.prompt + self.generation.text()

    @property
    def n(self) -> int:
        return len(self.tokens)

    @property
    def nbytes(self) -> int:
        return self.weights.numel() * 4

    def document(self, layer: int, mode: str) -> dict:
        """The ``generate --json`` document of this generation (every head's rows and their mean)."""
        return self.generation.document(attention="cross" if self.cross else "self")

    def status(self, step: int, precision: int = 3) -> str:
        """Step k of K, the token written, its probability and rank, and the top alternatives."""
        from attncli.io.textsafe import visible

        s = self.generation.steps[step]
        alternatives = ", ".join(f"{visible(display_tokens([a.token])[0])} {a.probability:.{precision}f}"
                                 for a in s.alternatives)
        parts = [f"step {step} of {len(self.generation.steps)}", f"wrote {self.rows[step]}",
                 f"p {s.probability:.{precision}f}", f"rank {s.rank}"]
        if alternatives:
            parts.append(f"top: {alternatives}")
        return " · ".join(parts)


def default_scale(line) -> str:
    """The color scale a line opens on: run's rule, ``keys`` for causal attention, else ``matrix``."""
    return "keys" if line.causal else "matrix"


def switch_attention(state, *, keep_scale: bool = False) -> str | None:
    """``a``: the other of an encoder-decoder generation's lines (self- / cross-attention), on the same
    step, layer and head. The color scale follows the line's default unless ``keep_scale`` (chosen with
    ``x`` or ``--color-scale``). A message when there is no other line."""
    lines = state.data.lines
    if not state.generation:
        return f"a switches self- and cross-attention with {option('generate')} on an encoder-decoder model"
    if len(lines) < 2:
        return f"{state.data.model} is a decoder only: no cross-attention to switch to"
    state.line = 1 - state.line
    if not keep_scale:
        state.color_scale = default_scale(lines[state.line])
    return None


def load_generation(generation, label: str = "PROMPT") -> BrowseData:
    """The browser's data for one generation (every layer of the model kept, as generate computed them);
    an encoder-decoder model's has two lines, its self-attention then its cross-attention."""
    from attncli.browse.data import _check_budget

    if generation.source_ids is None:
        lines = [GenLine(generation, label)]
    else:
        lines = [GenLine(generation, SELF), GenLine(generation, CROSS, cross=True)]
    _check_budget(sum(line.nbytes for line in lines), label)
    config = generation.config or {}
    model = config.get("model", {"name": generation.model})
    settings = generation.sampling.to_dict()
    how = "greedy" if settings["strategy"] == "greedy" else "sampled" + (
        f" (seed {settings['seed']})" if settings["seed"] is not None else "")
    if generation.target is not None:
        how = f"teacher-forced {option('target')}"
    written = len(generation.steps)
    parts = [f"model {model.get('name')}", f"{plural(written, 'token')} written, {how}",
             f"stop {generation.stop}", f"{config.get('dtype', '')} on {config.get('device', '')}".strip()]
    if generation.source_ids is not None:
        parts.insert(1, f"encoder-decoder, {plural(len(generation.source_ids), 'source token')}")
    return BrowseData(lines=lines, model=model.get("name"), layers=len(lines[0].layers),
                      heads=int(lines[0].weights.shape[1]), description=" · ".join(p for p in parts if p))
