"""attncli generate: a decoder writes, and for every token it wrote, what it looked at."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Optional

import typer

from attncli.cli.options import OutputOptions, choices, complete_model, finite, output_options
from attncli.cli.boundary import guarded
from attncli.cli.generation_options import GenerationOptions, check_attention, generation_options
from attncli.cli.measure_options import MEASURE_PARAMS
from attncli.cli.output import Environment
from attncli.errors import AttnError

app = typer.Typer()

PANEL = "Generation"
VIEW_PANEL = "What is shown"
VIEWS = ("steps", "grid")


@dataclass
class GenerateOptions(GenerationOptions):
    """Everything ``generate`` (and ``browse --generate``) is given, checked before the model loads: the
    generation options (attncli.cli.generation_options), the model and what is shown."""

    model: str = ""
    layer: Optional[str] = None
    head: Optional[int] = None
    step: Optional[int] = None
    view: str = "steps"
    bos: Optional[bool] = None
    device: Optional[str] = None
    dtype: Optional[str] = None
    ablate: Optional[str] = None
    ablate_mode: str = "zero"

    def sampling(self):
        from attncli.core.decoding import Sampling

        finite(self.temperature, "--temperature")
        finite(self.top_p, "--top-p")
        if self.target is not None and self.sample:
            raise AttnError("--target scores a given continuation; it takes no --sample", where="--target")
        return Sampling(sample=self.sample, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p,
                        seed=self.seed).check()

    def check(self) -> None:
        self.sampling()
        if self.max_new_tokens < 1:
            raise AttnError(f"must be at least 1, got {self.max_new_tokens}", where="-n/--max-new-tokens")
        if self.target is not None and self.max_new_tokens != 32:
            raise AttnError("--target sets the number of tokens itself", where="-n/--max-new-tokens")
        if not 0 <= self.alternatives <= 20:
            raise AttnError(f"must be between 0 and 20, got {self.alternatives}", where="--alternatives")
        if self.view not in VIEWS:
            raise AttnError(f"unknown view {self.view!r}", where="--view", hint="expected " + ", ".join(VIEWS))
        if self.attention not in ("self", "cross"):
            raise AttnError(f"unknown attention {self.attention!r}", where="--attention", hint="expected self or cross")
        if self.system is not None and not self.chat:
            raise AttnError("--system goes with --chat", where="--system")
        from attncli.models.ablation import check_generation_mode, check_mode

        check_mode(self.ablate_mode)
        if self.ablate is None and self.ablate_mode != "zero":
            raise AttnError("--ablate-mode goes with --ablate", where="--ablate-mode")
        check_generation_mode(self.ablate_mode)
        if self.step is not None and self.target is None and not -self.max_new_tokens <= self.step < self.max_new_tokens:
            raise AttnError(f"step {self.step} is out of range: at most {self.max_new_tokens} tokens are generated",
                            where="--step", hint=f"use 0 to {self.max_new_tokens - 1}, or -1 for the last")

    def load(self):
        """The model, loaded once (imports torch and transformers)."""
        from attncli.core.devices import resolve_device, resolve_dtype
        from attncli.models import Transformer

        return Transformer(self.model, device=resolve_device(self.device or "cpu"),
                           dtype=resolve_dtype(self.dtype or "float32"), bos=self.bos)


def selected_step(step: int | None, count: int) -> int:
    """``--step``: 0-based, negative from the end, default the last; checked against what was generated."""
    if step is None:
        return count - 1
    if not -count <= step < count:
        raise AttnError(f"step {step} is out of range: {count} token{'s were' if count != 1 else ' was'} generated",
                        where="--step", hint=f"use 0 to {count - 1}, or -1 for the last")
    return step % count


@app.command("generate")
@output_options
@generation_options(PANEL, VIEW_PANEL)
def generate(
    prompt: Annotated[str, typer.Argument(help="The prompt the model continues.", show_default=False)],
    model: Annotated[str, typer.Option(
        "--model", "-m", metavar="NAME|PATH", rich_help_panel=PANEL, autocompletion=complete_model,
        help="A decoder: smollm2 (packaged) or a local Hugging Face model folder.")],
    layer: Annotated[Optional[str], typer.Option(
        "--layer", "-l", metavar="L|all", rich_help_panel=VIEW_PANEL,
        help="The layer whose attention is kept (0-based, -1 the last; default the last), or all (JSON).")] = None,
    head: Annotated[Optional[int], typer.Option(
        "--head", metavar="K", rich_help_panel=VIEW_PANEL, help="One head (0-based) instead of the mean of heads.")] = None,
    step: Annotated[Optional[int], typer.Option(
        "--step", metavar="K", rich_help_panel=VIEW_PANEL,
        help="The generated token whose attention colors the text (0-based, -1 the last; default the last).")] = None,
    view: Annotated[str, typer.Option(
        "--view", metavar="steps|grid", rich_help_panel=VIEW_PANEL, autocompletion=choices(*VIEWS),
        help="steps: the step table and the token strip; grid: every step x every earlier token.")] = "steps",
    jsonl: Annotated[bool, typer.Option(
        "--jsonl", metavar=" ", rich_help_panel="Output",
        help="One JSON record per token as it is produced (flushed), then a summary record.")] = False,
    bos: Annotated[Optional[bool], typer.Option(
        "--bos/--no-bos", metavar=" ", rich_help_panel=PANEL, show_default=False,
        help="Put the model's beginning-of-sequence token first, or not (default: what its tokenizer does).")] = None,
    device: Annotated[Optional[str], typer.Option(
        "--device", metavar="DEVICE", rich_help_panel=PANEL, help="auto, cpu, cuda, cuda:N or mps (default cpu).")] = None,
    dtype: Annotated[Optional[str], typer.Option(
        "--dtype", metavar="DTYPE", rich_help_panel=PANEL, help="float32 (default), float64, float16 or bfloat16.")] = None,
    ablate: Annotated[Optional[str], MEASURE_PARAMS["ablate"][1]] = None,
    ablate_mode: Annotated[str, MEASURE_PARAMS["ablate_mode"][1]] = "zero",
    *,
    gen: GenerationOptions,
    out: OutputOptions,
) -> None:
    """Let a decoder write, and show what it looked at for every token it wrote.

    Examples:

      attncli generate --model smollm2 "The capital of France is"

      attncli generate --model smollm2 --chat "What is 2+2?" -n 16

      attncli generate --model smollm2 "The cat sat on the" --target " mat"

      attncli generate --model smollm2 "Once upon a time" --jsonl | head -3

      attncli generate --model smollm2 "The capital of France is" --ablate 3.1
    """
    options = GenerateOptions(model=model, **gen.values(), layer=layer, head=head, step=step, view=view, bos=bos,
                              device=device, dtype=dtype, ablate=ablate, ablate_mode=ablate_mode)
    guarded(out, lambda env: _generate(env, prompt, options, jsonl, out))


def _generate(env: Environment, prompt: str, options: GenerateOptions, jsonl: bool, out: OutputOptions) -> None:
    from attncli.core.record import check_head, parse_layer
    from attncli.io.textsafe import visible
    from attncli.documents.generation import generation_document, step_record, summary_record
    from attncli.models import generation, seq2seq

    if jsonl and out.json:
        raise AttnError("--json and --jsonl: one or the other", where="--jsonl")
    if jsonl and out.save is not None:
        raise AttnError("--jsonl streams records to stdout; --save goes with the view or --json", where="--save")
    options.check()
    transformer = options.load()
    generation.check_decoder(transformer)
    total, heads = seq2seq.decoder_shape(transformer)
    check_attention(transformer, options.attention)
    layers = parse_layer(options.layer, total)
    check_head(options.head, heads, transformer.name)
    from attncli.models import ablation

    removed = ablation.parse_heads(options.ablate, total, heads)
    if removed:
        ablation.check_generation(transformer)
    sampling = options.sampling()
    stream_text = not (out.json or jsonl) and env.out.is_terminal
    precision = out.precision

    def on_step(step) -> None:
        if jsonl:
            env.stdout.write(json.dumps(step_record(step, head=options.head, precision=precision),
                                        ensure_ascii=False) + "\n")
            env.stdout.flush()
        elif stream_text and not step.special:
            env.stdout.write(visible(step.text))  # control characters escaped, as every view does
            env.stdout.flush()

    if stream_text:
        from rich.markup import escape

        # a completion continues the prompt on its line; a chat answer starts on the next one
        env.out.print(f"[dim]{escape(visible(prompt))}[/]", end="\n" if options.chat else "", soft_wrap=True,
                      highlight=False)
        env.stdout.flush()
    result = generation.generate(transformer, prompt, sampling=sampling, max_new_tokens=options.max_new_tokens,
                                 layers=layers, alternatives=options.alternatives, target=options.target,
                                 chat=options.chat, system=options.system, on_step=on_step,
                                 interventions=ablation.interventions(removed, options.ablate_mode))
    changes = None
    if removed:
        from attncli.documents.generation import ablation_part

        changes = ablation_part(ablation.score_generation(transformer, result, removed, options.ablate_mode),
                                precision)
    if stream_text:
        env.stdout.write("\n\n")
        env.stdout.flush()
    kwargs = dict(max_new_tokens=options.max_new_tokens, alternatives=options.alternatives, head=options.head,
                  attention=options.attention)
    if jsonl:
        summary = summary_record(result, **kwargs)
        if changes is not None:
            summary["ablation"] = changes
        env.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
        env.stdout.flush()
        return
    chosen = selected_step(options.step, len(result.steps)) if result.steps else None
    doc = generation_document(result, precision=precision, **kwargs)
    if changes is not None:
        doc["ablation"] = changes

    def make_view(document, _width):
        from attncli.render.generate_view import generate_view

        return generate_view(document, layer=layers[-1], head=options.head, step=chosen, view=options.view,
                             attention=options.attention)

    env.emit(doc, out, make_view)
