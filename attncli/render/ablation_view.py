"""What ``--ablate`` changed, as lines of text: for ``heads`` and ``run`` documents, and for ``generate``.

Draws a document's ``ablation`` part (attncli.models.measured, attncli.core.head_scan,
attncli.models.ablation.score_generation) and nothing else; the numbers are printed, so it reads
the same without color.
"""

from __future__ import annotations

from rich.text import Text

from attncli.documents.tokens_display import display_tokens
from attncli.render.layout import fmt, label, note

#: Tokens listed whose log-probability fell the most.
FELL = 5
MODES = {"zero": "output set to 0", "mean": "output replaced by its mean over positions",
         "first": "pattern sent to the first token"}


def removed(ablation: dict) -> str:
    """``L1 H2, L0 H1 (zero: output set to 0)``."""
    heads = ", ".join(f"L{layer} H{head}" for layer, head in ablation["heads"])
    return f"{heads} ({ablation['mode']}: {MODES.get(ablation['mode'], ablation['mode'])})"


def _change(before: float, after: float, p: int) -> str:
    return f"{fmt(before, p)} -> {fmt(after, p)} nats ({after - before:+.{p}f})"


def record_lines(ablation: dict, tokens: list[str], precision: int, width: int, *, what: str) -> list[Text]:
    """A run's or a scan's ablation: the heads removed, the loss before and after, the tokens hit most."""
    p = precision
    tokens = display_tokens(tokens)  # ␣ for a leading space, as every view prints tokens
    out = [Text.assemble(("ablated", "bold"), f": {removed(ablation)}; {what}")]
    if "loss_before" in ablation:
        out += note(f"loss (mean -log p of each token given those before it): "
                    f"{_change(ablation['loss_before'], ablation['loss_after'], p)}", width, style="")
        if "second_copy_loss_before" in ablation:
            out += note(f"on the probe's second copy: "
                        f"{_change(ablation['second_copy_loss_before'], ablation['second_copy_loss_after'], p)}",
                        width, style="")
        before, after = ablation["logprobs_before"], ablation["logprobs_after"]
        fell = sorted(range(len(before)), key=lambda k: after[k] - before[k])[:FELL]
        fell = [k for k in fell if after[k] < before[k]]
        if fell:
            items = ", ".join(f"{label(tokens[k + 1])}@{k + 1} {fmt(before[k], p)} -> {fmt(after[k], p)}"
                              for k in fell)
            out += note(f"log-probability fell most at: {items}", width, style="")
    elif ablation.get("note"):
        out += note(ablation["note"], width)
    change = ablation.get("output_change")
    if change and "loss_before" not in ablation:
        worst = max(range(len(change)), key=lambda k: change[k])
        out += note(f"output change (1 - cos of each token's final hidden state): mean "
                    f"{fmt(sum(change) / len(change), p)}, largest {fmt(change[worst], p)} at "
                    f"{label(tokens[worst])}@{worst}", width, style="")
    return out


def generation_lines(ablation: dict, steps: list[dict], precision: int, width: int) -> list[Text]:
    """A generation with heads removed: its loss under both models, and where the intact model disagrees."""
    p = precision
    out = [Text.assemble(("ablated", "bold"), f": {removed(ablation)}; the text was written without them")]
    out += note(f"loss of the continuation (mean -log p): {fmt(ablation['loss_ablated'], p)} nats under the "
                f"ablated model, {fmt(ablation['loss_intact'], p)} under the intact model", width, style="")
    first = ablation.get("first_departure")
    if first is None:
        out += note("the intact model's most likely token is the same at every step", width, style="")
    else:
        step = steps[first]
        wrote, top = display_tokens([step["token"], ablation["intact_top"][first]["token"]])
        out += note(f"first departure at step {first}: the ablated model wrote {label(wrote)}, the intact model's "
                    f"most likely token is {label(top)}", width, style="")
    out += note("columns 'intact': each token's log-probability under the model with every head", width)
    return out
