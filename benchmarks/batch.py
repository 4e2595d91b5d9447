"""Target 3: batches.

`attncli run --file F --json` over 10,000 short sentences must be at least 50x faster than
10,000 separate invocations (per-invocation cost measured on 20 and extrapolated), and within
1.5x of a minimal script that computes the same attention with torch and json.dumps in a loop.

    python benchmarks/batch.py [--lines 10000] [--profile]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time

from _timing import attncli, machine, verdict

BASELINE = textwrap.dedent('''
    import json, math, re, sys, warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torch
    from attncli.core.vocabulary import TOY_VOCABULARY
    table = {w: torch.tensor(v) for w, v in TOY_VOCABULARY.items()}
    word = re.compile(r"\\w+")
    out = sys.stdout
    for number, line in enumerate(open(sys.argv[1], encoding="utf-8"), start=1):
        tokens = word.findall(line)
        if not tokens:
            continue
        x = torch.stack([table[t.lower()] for t in tokens])        # (N, 4)
        scores = x @ x.T / math.sqrt(x.shape[1])                    # (N, N)
        weights = torch.softmax(scores, dim=-1)                      # (N, N)
        context = weights @ x                                        # (N, 4)
        out.write(json.dumps({"line": number, "tokens": tokens, "scores": [scores.tolist()],
                              "weights": [weights.tolist()], "context": context.tolist()}) + "\\n")
''')


def sentences(n: int, seed: int = 0) -> list[str]:
    from attncli.core.vocabulary import TOY_VOCABULARY

    words = list(TOY_VOCABULARY)
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(4, 10))) for _ in range(n)]


def wall(argv: list[str], stdout=subprocess.DEVNULL) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=stdout, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--singles", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print where the batch run spends its time")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    texts = sentences(args.lines)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "sentences.txt")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(texts) + "\n")
        baseline = os.path.join(folder, "baseline.py")
        with open(baseline, "w") as handle:
            handle.write(BASELINE)
        if args.profile:
            subprocess.run([sys.executable, "-m", "cProfile", "-s", "tottime", "-m", "attncli", "run", "--file",
                            path, "--json"], stdout=open(os.path.join(folder, "profile.txt"), "w"), check=True)
            lines = open(os.path.join(folder, "profile.txt")).read().split("Ordered by")[1].splitlines()[:30]
            print("\n".join(lines))
            return
        batch, base = [], []
        for _ in range(args.repeat):  # interleaved
            batch.append(wall(attncli() + ["run", "--file", path, "--json"]))
            base.append(wall([sys.executable, baseline, path]))
        batch_s, base_s = min(batch), min(base)
        singles = [wall(attncli() + ["run", text, "--json"]) for text in texts[: args.singles]]
        per_call = sum(singles) / len(singles)
    separate = per_call * args.lines
    print(f"\n{args.lines:,} sentences of 4 to 10 toy-vocabulary words, default settings:")
    print(f"  attncli run --file --json (one process)   {batch_s:8.2f} s  ({batch_s / args.lines * 1e6:.0f} us/line)")
    print(f"  minimal torch + json.dumps loop           {base_s:8.2f} s")
    print(f"  separate invocations (extrapolated)       {separate:8.1f} s  ({per_call * 1000:.0f} ms each, "
          f"mean of {args.singles})")
    speedup = separate / batch_s
    ratio = batch_s / base_s
    print(f"  speed-up over separate invocations: {speedup:.0f}x (target >= 50x) "
          f"{'PASS' if speedup >= 50 else 'FAIL'}")
    print(f"  batch / minimal loop: {ratio:.2f}x (target <= 1.5x) {verdict(ratio, 1.5)}")


if __name__ == "__main__":
    main()
