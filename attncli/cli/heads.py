"""attncli heads: score what every layer x head does (previous-token, induction, sink...)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from attncli.cli.options import OutputOptions, choices, output_options
from attncli.cli.boundary import forms_command, guarded
from attncli.cli.heads_corpus import CorpusOptions, corpus_options
from attncli.cli.heads_corpus import Progress as _Progress
from attncli.cli.measure_options import MEASURE_PARAMS

app = typer.Typer()

#: --file reads at most this much.
MAX_FILE_BYTES = 1024 * 1024
PANEL = "Heads"
#: attncli.core.detectors.SCORES, for shell completion without importing torch (a test checks they agree).
SCORE_NAMES = ("previous", "induction", "duplicate", "first", "entropy", "distance")


def _read(source: str) -> str:
    from attncli.errors import AttnError
    from attncli.io.textio import read_limited

    where = f"--file {source}"
    raw = read_limited(source, MAX_FILE_BYTES, where, what="text file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AttnError(f"not a UTF-8 text file (byte {exc.start})", where=where) from None


@app.command(cls=forms_command("merge PART... [OPTIONS]", apart=("merge",)))
@output_options
@corpus_options
def heads(
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", metavar="NAME|PATH", rich_help_panel=PANEL,
        help="minilm, smollm2 (4-bit quantized weights, dequantized) or a local Hugging Face model folder.")] = None,
    config: Annotated[Optional[str], typer.Option(
        "--config", "-c", metavar="PATH_OR_NAME", rich_help_panel=PANEL,
        help="A toy config instead of a model (one layer); the default toy vocabulary without either.")] = None,
    text: Annotated[Optional[str], typer.Option(
        "--text", rich_help_panel=PANEL,
        help="Score your text instead of the probe (previous, first, entropy, distance).")] = None,
    file: Annotated[Optional[str], typer.Option(
        "--file", "-f", metavar="PATH", rich_help_panel=PANEL,
        help="A corpus, one text a line, or JSON Lines (.jsonl/.ndjson, or --field); with --join one text "
             "('-' for stdin).")] = None,
    join: Annotated[bool, typer.Option(
        "--join", metavar=" ", rich_help_panel=PANEL,
        help="With --file: the whole file is one text (a long one is scored row by row).")] = False,
    length: Annotated[int, typer.Option(
        "--length", rich_help_panel=PANEL, help="Random tokens in the probe (it repeats them once).")] = 50,
    seed: Annotated[int, typer.Option("--seed", rich_help_panel=PANEL, help="Seed of the probe's tokens.")] = 0,
    top: Annotated[int, typer.Option("--top", rich_help_panel=PANEL, help="Top heads listed per score.")] = 5,
    score: Annotated[Optional[str], typer.Option(
        "--score", metavar="NAME", rich_help_panel=PANEL, autocompletion=choices(*SCORE_NAMES, "effect"),
        help="Only this score: previous, induction, duplicate, first, entropy, distance, or effect (with --effect).")] = None,
    measure: Annotated[Optional[str], typer.Option(
        "--measure", metavar="NAME", rich_help_panel=PANEL, autocompletion=choices("weights", "norm"),
        help="What the scores read: weights (softmax, default) or norm (each head's ||alpha f(x)|| as a share of "
             "its row; docs/heads.md).")] = None,
    bos: Annotated[Optional[bool], typer.Option(
        "--bos/--no-bos", rich_help_panel=PANEL, show_default=False,
        help="Start with the model's BOS token, or not (default: what its tokenizer does; the probe has it).")] = None,
    device: Annotated[Optional[str], typer.Option(
        "--device", metavar="DEVICE", rich_help_panel=PANEL, help="auto, cpu, cuda, cuda:N or mps.")] = None,
    dtype: Annotated[Optional[str], typer.Option(
        "--dtype", metavar="DTYPE", rich_help_panel=PANEL, help="float32, float64, float16 or bfloat16.")] = None,
    effect: Annotated[bool, typer.Option(
        "--effect", rich_help_panel=PANEL,
        help="A seventh score: the rise in loss on the probe's second copy with each head ablated alone "
             "(one forward pass per head; decoders).")] = False,
    ablate: Annotated[Optional[str], MEASURE_PARAMS["ablate"][1]] = None,
    ablate_mode: Annotated[str, MEASURE_PARAMS["ablate_mode"][1]] = "zero",
    merge: Annotated[Optional[list[str]], typer.Argument(
        metavar="merge PART...", show_default=False,
        help="'merge' and the parts (--json or --save FILE.jsonl of shards) to combine into one summary.")] = None,
    *,
    out: OutputOptions,
    crp: CorpusOptions,
) -> None:
    """Score every layer x head: previous-token, induction, duplicate, first-token (sink), entropy, distance.

    Without --text or --file the input is a probe: --length random tokens from the ordinary
    vocabulary (seeded with --seed), repeated twice, after the model's BOS token when it has one.
    docs/heads.md defines each score; every score is in [0, 1].

    \b
      attncli heads --model smollm2
      attncli heads --model smollm2 --score induction --top 10
      attncli heads --model smollm2 --measure norm --score first
      attncli heads --model minilm --text "The cat sat on the mat" --json
      attncli heads --model smollm2 --file doc.txt --join
      attncli heads --model smollm2 --effect --score effect
      attncli heads --model smollm2 --ablate 3.1,5.0 --score induction
      attncli heads -c gpt-style
      attncli heads --model smollm2 --file corpus.txt --jsonl --save run.jsonl
      attncli heads merge part-1.json part-2.json
    """

    def body(env):
        from attncli.core import head_scan
        from attncli.errors import AttnError
        from attncli.models.ablation import check_mode

        if merge:
            if merge[0] != "merge":
                raise AttnError(f"unexpected argument {merge[0]!r}", where="PART", hint="did you mean 'heads merge PART...'?")
            from attncli.cli.heads_corpus import merge_parts

            raise typer.Exit(merge_parts(env, out, merge[1:], top=top))
        name = head_scan.head_measure(measure)
        check_mode(ablate_mode)
        if ablate is not None and model is None:
            raise AttnError("--ablate goes with --model", where="--ablate", hint="e.g. --model smollm2 --ablate 3.1")
        if ablate is None and ablate_mode != "zero":
            raise AttnError("--ablate-mode goes with --ablate", where="--ablate-mode")
        if text is not None and file is not None:
            raise AttnError("give --text or --file, not both", where="--file")
        corpus = file is not None and not join
        if join and file is None:
            raise AttnError("--join goes with --file", where="--join")
        for flag in crp.given():
            if not corpus:
                raise AttnError(f"{flag} goes with --file (a corpus)", where=flag)
        if corpus:
            if model is None:
                raise AttnError("a corpus needs --model", where="--file",
                                hint="give --model NAME, or --join to read the file as one text")
            if effect or score is not None or ablate is not None:
                flag = "--effect" if effect else "--score" if score is not None else "--ablate"
                raise AttnError(f"{flag} does not go with a corpus: it scores every head on each text", where=flag,
                                hint="leave it out, or add --join to read the file as one text")
            from attncli.cli.heads_corpus import run_corpus

            raise typer.Exit(run_corpus(env, out, crp, model=model, file=file, top=top, device=device, dtype=dtype,
                                        bos=bos, measure=name))
        head_scan.check(score=score, top=top, length=length, effect=effect, model=model, measure=name)
        if model is not None and config is not None:
            raise AttnError("--config does not apply to a real model", where="--config")
        if model is None and bos is not None:
            raise AttnError("--bos/--no-bos goes with --model", where="--bos")
        given = _read(file) if file is not None else text
        where = "--text" if file is None else f"--file {file}"
        if given is not None and not given.strip():
            raise AttnError("empty text" if not given else "text holds only whitespace", where=where, kind="text")
        common = dict(text=given, where=where, length=length, seed=seed, only=score, top=top,
                      precision=out.precision, measure=name)
        if model is not None:
            from attncli.core.devices import dtype_name
            from attncli.models.runs import ModelAttention

            with _Progress() as progress:  # attncli.heads, with progress bars
                runner = ModelAttention(model, device=device or "cpu", dtype=dtype_name(dtype or "float32"),
                                        bos=bos, progress=progress.update)
                doc = head_scan.scan_model(runner, layer_progress=progress.layers, effect=effect,
                                           effect_progress=lambda d, t: progress.update("ablating heads", d, t),
                                           ablate=ablate, ablate_mode=ablate_mode, **common)
        else:
            from attncli.api import load_config

            doc = head_scan.scan_toy(load_config(config, device=device, dtype=dtype), **common)

        def make_view(doc, width):
            from attncli.render.heads_view import heads_view

            return heads_view(doc, precision=out.precision, width=width)

        env.emit(doc, out, make_view)

    guarded(out, body)
