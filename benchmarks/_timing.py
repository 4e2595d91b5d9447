"""Shared helpers for the benchmark scripts: interleaved wall-clock timing of commands, peak memory."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time


def time_commands(commands: dict[str, list[str]], repeat: int = 15, warmup: int = 2,
                  env: dict | None = None) -> dict[str, float]:
    """Median wall time of each command, runs interleaved so that machine noise hits all alike."""
    env = {**os.environ, **(env or {})}
    for _ in range(warmup):
        for argv in commands.values():
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def peak_rss_mb(argv: list[str], env: dict | None = None, stdout=subprocess.DEVNULL) -> tuple[float, float]:
    """(peak resident memory in MiB, wall seconds) of one child process."""
    start = time.perf_counter()
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, stdout=stdout, stderr=err, env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak, not the largest child's so far
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err.seek(0)
        raise SystemExit(f"{' '.join(argv[:6])}... failed ({proc.returncode}): {err.read().decode()[-500:]}")
    return usage.ru_maxrss / 1024, wall


def machine() -> str:
    import multiprocessing

    return (f"{platform.machine()}, {multiprocessing.cpu_count()} cores, Python {platform.python_version()}, "
            f"{time.strftime('%Y-%m-%d')}")


def attncli() -> list[str]:
    """The attncli of this interpreter's environment."""
    return [sys.executable, "-m", "attncli"]


def verdict(ratio: float, target: float) -> str:
    return "PASS" if ratio <= target else "FAIL"
