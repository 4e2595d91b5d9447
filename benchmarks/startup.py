"""Target 1 and 2: start-up.

1. `attncli --help`, `--version`, `vocab`, `config list/show/validate` import no torch, and
   `attncli --help` takes at most 1.25x a minimal Typer app with the same commands and no bodies.
2. `attncli run "She ate the apple" --json` takes at most 1.3x `python -c "import torch"`.

    python benchmarks/startup.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap

from _timing import machine, time_commands, verdict

MINIMAL_APP = textwrap.dedent('''
    import typer

    app = typer.Typer(no_args_is_help=True)
    config = typer.Typer(no_args_is_help=True)
    app.add_typer(config, name="config")
    models = typer.Typer(no_args_is_help=True)
    app.add_typer(models, name="models")

    for name in ("run", "compare", "explain", "vocab", "bench", "heads", "browse"):
        app.command(name)(lambda: None)
    for name in ("init", "show", "validate", "list"):
        config.command(name)(lambda: None)
    for name in ("list", "install"):
        models.command(name)(lambda: None)

    app()
''')


def torch_imported(argv: list[str]) -> bool:
    code = ("import sys, runpy\nsys.argv = ['attncli'] + %r\n"
            "try:\n    runpy.run_module('attncli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)") % (argv,)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1] == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    print(f"machine: {machine()}")

    print("\n[1a] commands that must not import torch (python -X importtime would list it):")
    for argv in (["--help"], ["--version"], ["vocab"], ["config", "list"], ["config", "show", "bank"],
                 ["config", "validate", "bank"]):
        imported = torch_imported(argv)
        print(f"  attncli {' '.join(argv):<24} torch imported: {imported}  {'FAIL' if imported else 'PASS'}")

    with tempfile.TemporaryDirectory() as folder:
        minimal = os.path.join(folder, "minimal_app.py")
        with open(minimal, "w") as handle:
            handle.write(MINIMAL_APP)
        times = time_commands({
            "minimal Typer app --help": [sys.executable, minimal, "--help"],
            "attncli --help": [sys.executable, "-m", "attncli", "--help"],
            "attncli --version": [sys.executable, "-m", "attncli", "--version"],
        }, repeat=args.repeat)
    base = times["minimal Typer app --help"]
    print("\n[1b] start-up against a minimal Typer app (median wall time):")
    for name, seconds in times.items():
        print(f"  {name:<28} {seconds * 1000:7.1f} ms   {seconds / base:5.2f}x")
    ratio = times["attncli --help"] / base
    print(f"  attncli --help / minimal app: {ratio:.2f}x (target <= 1.25x) {verdict(ratio, 1.25)}")

    times = time_commands({
        "python -c 'import torch'": [sys.executable, "-c", "import torch"],
        "attncli run ... --json": [sys.executable, "-m", "attncli", "run", "She ate the apple", "--json"],
    }, repeat=args.repeat)
    base = times["python -c 'import torch'"]
    ratio = times["attncli run ... --json"] / base
    print("\n[2] a small run against importing torch (median wall time):")
    for name, seconds in times.items():
        print(f"  {name:<28} {seconds * 1000:7.1f} ms   {seconds / base:5.2f}x")
    print(f"  attncli run / import torch: {ratio:.2f}x (target <= 1.3x) {verdict(ratio, 1.3)}")


if __name__ == "__main__":
    main()
