"""``browse --generate``: a generation (attncli.models.generation) seen as a line of the browser.

The rows are the steps (the tokens the model wrote), the keys every token of the text (the prompt,
then what was written): step k's row is the attention of the forward that produced token k, over
the ``position`` tokens before it (its query is the token before it), the rest masked (-inf).
Computed once by the library's ``generate``; stepping with ``n`` / ``p`` only indexes the tensor.
"""

from __future__ import annotations

import math

from attncli.browse.data import BrowseData
from attncli.core.numbers import plural
from attncli.documents.tokens_display import display_tokens
from attncli.errors import option


class GenLine:
    """A generation as the browser's line: ``weights`` (L, H, K, T) for K steps over T tokens."""

    measure = "weights"
    contexts = scores = rollout = level = None
    causal = True

    def __init__(self, generation, label: str = "PROMPT") -> None:
        import torch

        self.generation = generation
        self.label = label
        self.source = generation.prompt
        self.raw = list(generation.tokens)  # the tokenizer's strings (what / matches)
        self.tokens = display_tokens(self.raw)
        self.offset = len(generation.prompt_ids)  # step k wrote token offset + k
        self.rows = self.tokens[self.offset:]  # the rows' labels: the tokens written
        steps = generation.steps
        layers = list(generation.layers)
        heads = int(steps[0].attention[layers[0]].shape[0]) if steps else int(generation.heads)
        self.layers = layers
        weights = torch.full((len(layers), heads, len(steps), len(self.tokens)), -math.inf)  # (L, H, K, T)
        for k, step in enumerate(steps):
            for index, layer in enumerate(layers):
                row = step.attention[layer].detach().float().cpu()  # (H, position)
                weights[index, :, k, :row.shape[-1]] = row
        self.weights = weights
        self.special = list(generation.prompt_special) + [s.special for s in steps]
        self.oov = [False] * len(self.tokens)

    @property
    def text(self) -> str:
        return self.generation.prompt + self.generation.text()

    @property
    def n(self) -> int:
        return len(self.tokens)

    @property
    def nbytes(self) -> int:
        return self.weights.numel() * 4

    def document(self, layer: int, mode: str) -> dict:
        """The ``generate --json`` document of this generation (every head's rows and their mean)."""
        return self.generation.document()

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


def load_generation(generation, label: str = "PROMPT") -> BrowseData:
    """The browser's data for one generation (every layer of the model kept, as generate computed them)."""
    from attncli.browse.data import _check_budget

    line = GenLine(generation, label)
    _check_budget(line.nbytes, label)
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
    return BrowseData(lines=[line], model=model.get("name"), layers=len(line.layers), heads=int(line.weights.shape[1]),
                      description=" · ".join(p for p in parts if p))
