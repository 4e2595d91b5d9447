"""Value-aware measures and head ablation: what they cost against the plain runs they extend.

(a) `attncli run --model smollm2 TEXT --layer all --json` on 128 tokens with --measure norm and
    --measure mixing, against the same run with --measure weights (target: within 1.5x), as whole
    commands and in-process (the model loaded once: run + JSON only).
(b) --measure value-zeroing on MiniLM, 64 tokens, all 6 layers, in-process, against 64 x 6
    single-layer forward passes done directly (each block called with one token's values zeroed by
    a hook on its value projection), in a plain loop (target: within 1.2x).
(c) `heads --effect` on SmolLM2 (50-token probe repeated, 101 tokens; 30 x 9 = 270 heads), in-process,
    against 270 plain forward passes of the probe with one head zeroed by a hook on o_proj's input
    (target: within 1.2x).

    python benchmarks/measures.py [--repeat 3] [--only a|b|c ...] [--in-process]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time

from _timing import attncli, machine, time_commands, verdict

WORDS = ("the cat sat on the mat because it was soft and the dog ran to the red door of our house while "
         "a bird sang in the old tree near the river bank").split()


def text_of(tokenizer, n: int) -> str:
    """A text of exactly n tokens for this tokenizer (words repeated, then trimmed by ids)."""
    words = (WORDS * 20)[: n * 2]
    ids = tokenizer(" ".join(words), add_special_tokens=False)["input_ids"][:n]
    return tokenizer.decode(ids)


def interleaved(fns: dict, repeat: int, warmup: int = 1) -> dict[str, float]:
    """Median wall time of each function, called in turn (a, b, a, b, ...) so that load hits all alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def load() -> str:
    """The machine's load average (1, 5, 15 minutes): the machine is shared, so figures go with it."""
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def part_a(repeat: int, commands_too: bool = True) -> None:
    import torch

    from attncli.documents.build import run_document
    from attncli.documents.jsonout import stream_json
    from attncli.models.runs import ModelAttention

    runner = ModelAttention("smollm2")
    text = text_of(runner.transformer.tokenizer, 128)
    n = len(runner.transformer.encode(text))
    print(f"(a) SmolLM2, {n} tokens, --layer all --json")
    commands = {m: attncli() + ["run", "--model", "smollm2", text, "--layer", "all", "--json", "--measure", m]
                for m in ("weights", "norm", "mixing")}
    whole = time_commands(commands, repeat=repeat, warmup=1) if commands_too else None

    def once(measure):
        with torch.no_grad():
            record = runner.run(text, measure=measure, layers=None)
            buffer = io.StringIO()
            stream_json(run_document(record, layers=list(range(30)), lazy=True), buffer.write)

    short = text_of(runner.transformer.tokenizer, 16)
    for m in ("weights", "norm", "mixing"):  # warm every path on a short text first
        runner.run(short, measure=m, layers=None)
    inner = interleaved({m: (lambda m=m: once(m)) for m in ("weights", "norm", "mixing")}, repeat, warmup=0)
    for m in ("norm", "mixing"):
        command = (f"command {whole[m]:.2f} s vs {whole['weights']:.2f} s = {whole[m] / whole['weights']:.2f}x "
                   f"{verdict(whole[m] / whole['weights'], 1.5)}; " if whole is not None else "")
        print(f"    {m}: {command}in-process {inner[m]:.2f} s vs {inner['weights']:.2f} s "
              f"= {inner[m] / inner['weights']:.2f}x {verdict(inner[m] / inner['weights'], 1.5)}")


def part_b(repeat: int) -> None:
    import torch

    from attncli.models.runs import ModelAttention

    runner = ModelAttention("minilm")
    t = runner.transformer
    text = text_of(t.tokenizer, 62)  # + [CLS] and [SEP]
    ids = t.encode(text)
    n = len(ids)
    print(f"(b) MiniLM value zeroing, {n} tokens, 6 layers")
    blocks = list(t.model.encoder.layer)

    def plain():
        calls = {}
        hooks = [b.register_forward_pre_hook(lambda m, a, k, i=i: calls.__setitem__(i, (a, k)), with_kwargs=True)
                 for i, b in enumerate(blocks)]
        with torch.no_grad():
            t.model(input_ids=torch.tensor([ids]))
        for h in hooks:
            h.remove()
        with torch.no_grad():
            for i, block in enumerate(blocks):
                args, kwargs = calls[i]
                value = block.attention.self.value
                for j in range(n):
                    hook = value.register_forward_hook(lambda m, a, out, j=j: out.index_fill(1, torch.tensor([j]), 0))
                    block(*args, **kwargs)
                    hook.remove()

    times = interleaved({"ours": lambda: runner.run(text, measure="value-zeroing", layers=None), "base": plain}, repeat)
    ours, base = times["ours"], times["base"]
    print(f"    attncli {ours:.2f} s vs {n} x 6 plain single-layer passes {base:.2f} s = {ours / base:.2f}x "
          f"{verdict(ours / base, 1.2)}")


def part_c(repeat: int) -> None:
    import torch

    from attncli.core import detectors
    from attncli.models import Transformer
    from attncli.models.effects import head_effects

    t = Transformer("smollm2", device=torch.device("cpu"), dtype=torch.float32)
    ids, start = detectors.probe_ids(t.ordinary_ids(), length=50, seed=0, prefix=t.prefix_id())
    print(f"(c) SmolLM2 heads --effect, {len(ids)} tokens, 270 heads")
    lm = t.lm
    layers = lm.model.layers
    dv = lm.config.hidden_size // lm.config.num_attention_heads

    def plain():
        with torch.no_grad():
            lm(input_ids=torch.tensor([ids]), use_cache=False)
            for layer in layers:
                for head in range(9):
                    def zero(_m, args, head=head):
                        z = args[0].clone()
                        z[..., head * dv:(head + 1) * dv] = 0
                        return (z,)
                    hook = layer.self_attn.o_proj.register_forward_pre_hook(zero)
                    lm(input_ids=torch.tensor([ids]), use_cache=False).logits
                    hook.remove()

    times = interleaved({"ours": lambda: head_effects(t, ids, start, 50), "base": plain}, repeat, warmup=0)
    ours, base = times["ours"], times["base"]
    print(f"    attncli {ours:.1f} s vs 271 plain forwards with a hook {base:.1f} s = {ours / base:.2f}x "
          f"{verdict(ours / base, 1.2)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=("a", "b", "c"), action="append",
                        help="only these parts (repeatable: --only a --only c)")
    parser.add_argument("--in-process", action="store_true",
                        help="(a): time in-process runs only, not whole commands (each loads the model)")
    args = parser.parse_args()
    print(machine())
    for name, part in (("a", lambda r: part_a(r, not args.in_process)), ("b", part_b), ("c", part_c)):
        if not args.only or name in args.only:
            print(f"  before ({name}): {load()}")
            part(args.repeat)
            print(f"  after ({name}): {load()}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
