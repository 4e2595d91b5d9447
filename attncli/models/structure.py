"""Where a model's layers are: its blocks, and in each the attention sublayer and output projection.

Located by module type and by watching one forward, never by guessing attribute names:

- the blocks: the model's ``ModuleList`` of ``num_hidden_layers`` modules of one class;
- which layer a module belongs to: the block it sits in (``module.layer_idx`` is not needed, and
  DistilBERT has none);
- the attention sublayer: the block's child that holds the module calling the attention function;
- the output projection: the first linear layer (``nn.Linear`` or GPT-2's ``Conv1D``) that the
  block calls after its attention function returns, seen in a two-token probe forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


def layer_count(config) -> int:
    for name in ("num_hidden_layers", "n_layer", "n_layers"):
        value = getattr(config, name, None)
        if value:
            return int(value)
    return 0


def find_blocks(model) -> list:
    """The model's layers in order: the first ModuleList of ``layer_count`` modules of one class."""
    count = layer_count(model.config)
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count and count > 0:
            kinds = {type(child) for child in module}
            if len(kinds) == 1:
                return list(module)
    return []


def _linear(module) -> bool:
    if isinstance(module, torch.nn.Linear):
        return True
    return type(module).__name__ == "Conv1D" and hasattr(module, "nf")  # transformers' GPT-2 projection


@dataclass
class Structure:
    """A model's blocks, and what the probe found in each."""

    blocks: list
    owner: dict = field(default_factory=dict)  # id(submodule) -> layer index
    attention: list = field(default_factory=list)  # per layer: the module that calls the attention function
    sublayer: list = field(default_factory=list)  # per layer: the block's child holding it
    projection: list = field(default_factory=list)  # per layer: the output projection (or None)
    probed: bool = False

    @classmethod
    def of(cls, model) -> "Structure":
        blocks = find_blocks(model)
        owner = {}
        for index, block in enumerate(blocks):
            for module in block.modules():
                owner[id(module)] = index
        return cls(blocks=blocks, owner=owner)

    def probe(self, model, run_forward) -> None:
        """One two-token forward that records, per block, the attention caller and the next linear layer."""
        from attncli.models import capture

        if self.probed:
            return
        count = len(self.blocks)
        callers: list = [None] * count
        projections: list = [None] * count
        waiting: set[int] = set()
        hooks = []

        class Probe(capture.Session):
            def attend(self, layer, module, *args):
                callers[layer] = module
                waiting.add(layer)
                return capture._sdpa(module, *args)

            def acts_on(self, layer):
                return True

        def seen(module, _inputs, _output, layer):
            if layer in waiting:
                projections[layer] = module
                waiting.discard(layer)

        for index, block in enumerate(self.blocks):
            for module in block.modules():
                if _linear(module):
                    hooks.append(module.register_forward_hook(
                        lambda m, i, o, layer=index: seen(m, i, o, layer)))
        session = Probe(self.owner, capture=(), layers=None, rows=None, interventions=())
        try:
            with capture.switched(model):
                capture._ACTIVE.append(session)
                try:
                    run_forward()
                finally:
                    capture._ACTIVE.remove(session)
        finally:
            for hook in hooks:
                hook.remove()
        self.attention = callers
        self.projection = projections
        self.sublayer = [self._child_holding(block, caller) for block, caller in zip(self.blocks, callers)]
        self.probed = True

    @staticmethod
    def _child_holding(block, module):
        if module is None:
            return None
        for child in block.children():
            if child is module or any(m is module for m in child.modules()):
                return child
        return None
