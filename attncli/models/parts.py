"""Where each model family keeps what the value-aware measures need: W_V, b_V, W_O, b_O, its layer norm.

Read from the model's own modules, per family, in attncli's row-vector convention (``x @ W``):

=============================  ===================  ======================  =========================
family                          value module         output module           after the residual
=============================  ===================  ======================  =========================
Llama, Qwen2, Mistral, Gemma    self_attn.v_proj     self_attn.o_proj        nothing (pre-LN)
Phi                             self_attn.v_proj     self_attn.dense         nothing (pre-LN, parallel)
GPT-2                           attn.c_attn (3rd)    attn.c_proj (Conv1D)    nothing (pre-LN)
BERT, RoBERTa                   attention.self.value attention.output.dense  attention.output.LayerNorm
DistilBERT                      attention.v_lin      attention.out_lin       sa_layer_norm
=============================  ===================  ======================  =========================

The attention's input x (after the pre-layer norm in pre-LN models) is captured at the value module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from attncli.errors import AttnError


@dataclass
class FamilyLayer:
    """One layer's modules, found once."""

    block: Any  # the whole layer (what value zeroing reruns)
    attention: Any  # the attention sublayer
    value: Any  # the module whose input is x and whose output holds the values
    output: Any  # the output projection (its input is z, the heads side by side)
    post_norm: Any | None  # the layer norm after the attention's residual (post-LN), or None
    conv1d: bool  # GPT-2's Conv1D: weight is (in, out), and c_attn holds q, k and v side by side
    d_model: int

    def value_slice(self):
        """Which output columns of the value module are the values (GPT-2: the last third)."""
        if self.conv1d:
            return slice(2 * self.d_model, 3 * self.d_model)
        return slice(None)

    def weights(self):
        """W_V (d, KV*dv), b_V, W_O (H*dv, d), b_O, in x @ W form."""
        v, o = self.value, self.output
        cut = self.value_slice()
        if self.conv1d:
            w_v = v.weight[:, cut]  # (d, d)
            b_v = v.bias[cut] if v.bias is not None else None
            w_o = o.weight  # (d, d)
        else:
            w_v = v.weight.T  # (d, KV*dv)
            b_v = v.bias
            w_o = o.weight.T  # (H*dv, d)
        return w_v, b_v, w_o, o.bias

    def norm(self):
        """(gamma, beta, eps, rms) of the post-attention layer norm, or None for pre-LN blocks."""
        ln = self.post_norm
        if ln is None:
            return None
        eps = getattr(ln, "eps", None) or getattr(ln, "variance_epsilon", 1e-5)
        return ln.weight, getattr(ln, "bias", None), float(eps), not hasattr(ln, "bias")


def family_layers(transformer) -> list[FamilyLayer]:
    """Every layer's modules; a clear error for families whose layout is not known."""
    blocks = list(transformer.structure.blocks)
    attentions = [next((getattr(b, a) for a in ("attention", "attn", "self_attn") if hasattr(b, a)), None)
                  for b in blocks]
    if any(a is None for a in attentions):
        raise _unknown(transformer)
    d_model = int(transformer.info["d_model"])
    family = transformer.info.get("family")
    if not blocks or not attentions:
        raise _unknown(transformer)
    out = []
    for block, attention in zip(blocks, attentions):
        if hasattr(attention, "self") and hasattr(attention, "output"):  # BERT, RoBERTa
            out.append(FamilyLayer(block, attention, attention.self.value, attention.output.dense,
                                   attention.output.LayerNorm, False, d_model))
        elif hasattr(attention, "v_lin"):  # DistilBERT
            out.append(FamilyLayer(block, attention, attention.v_lin, attention.out_lin,
                                   getattr(block, "sa_layer_norm"), False, d_model))
        elif hasattr(attention, "c_attn") and hasattr(attention, "c_proj") and family == "gpt2":
            out.append(FamilyLayer(block, attention, attention.c_attn, attention.c_proj, None, True, d_model))
        elif hasattr(attention, "v_proj") and (hasattr(attention, "o_proj") or hasattr(attention, "dense")):
            if family in ("gemma2", "gemma3", "gemma3_text") or hasattr(block, "post_feedforward_layernorm"):
                raise _unknown(transformer, "its layers normalize the attention output before the residual")
            output = attention.o_proj if hasattr(attention, "o_proj") else attention.dense
            out.append(FamilyLayer(block, attention, attention.v_proj, output, None, False, d_model))
        else:
            raise _unknown(transformer)
    return out


def _unknown(transformer, why: str = "its attention modules are not of a known layout"):
    return AttnError(f"value-aware measures and ablation do not support {transformer.name} "
                     f"({transformer.architecture}): {why}", param="measure", kind="model",
                     hint="supported: Llama, Qwen2, Mistral, Gemma, Phi, GPT-2, BERT, RoBERTa, DistilBERT")
