"""attncli config: init, show, validate and list configs. None of these imports torch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from attncli.cli.options import (
    BasicOutputOptions, OutputOptions, basic_output_options, complete_config, output_options,
)
from attncli.cli.boundary import guarded

app = typer.Typer(help="Write, check, show and list YAML configs.", no_args_is_help=True)


@app.command("init")
@basic_output_options
def init(
    path: Annotated[str, typer.Argument(help="Where to write the starter config ('-' for stdout).")] = "attncli.yaml",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    *,
    out: BasicOutputOptions,
) -> None:
    """Write a commented starter config documenting every key."""

    def body(env):
        from attncli.config import bundled_dir
        from attncli.errors import AttnError

        text = (bundled_dir() / "example.yaml").read_text(encoding="utf-8")
        if path != "-":  # the comments name the file written, not the bundled one it came from
            from attncli.io.textsafe import visible

            named = visible(path)  # a newline or a non-UTF-8 byte in the name cannot break the YAML
            text = text.replace("attncli run -c example ", f"attncli run -c {named} ")
            text = text.replace("attncli config validate example\n", f"attncli config validate {named}\n")
        else:  # written to stdout: the reader names the file it goes to
            text = text.replace("attncli run -c example ", "attncli run -c FILE.yaml ")
            text = text.replace("attncli config validate example\n", "attncli config validate FILE.yaml (the file you "
                                "saved this to)\n")
        if path == "-":
            if out.json:
                raise AttnError("config init - writes the YAML itself to stdout", where="--json",
                                hint="drop --json, or give a file name")
            env.stdout.write(text)
            return
        from attncli.io.fileio import atomic_write, check_target, check_writable

        target = Path(path)
        if target.is_dir():
            raise AttnError("is a directory", where=path, hint="give a file name, e.g. attncli.yaml")
        linked = check_target(target, path)  # never a FIFO or a device, even with --force
        if (target.exists() or target.is_symlink()) and not force:
            raise AttnError("already exists", where=path, hint="use --force to overwrite it")
        check_writable(target, path)
        if linked is not None:
            env.warn(f"{path!r} is a symbolic link: writing its target {str(linked)!r}")
        # a temporary file renamed into place: a full disk leaves nothing behind, not a 0-byte file
        atomic_write(target, lambda handle: handle.write(text), overwrite=force)
        if out.json:
            import json

            env.stdout.write(json.dumps({"written": str(target)}) + "\n")
        else:
            from rich.markup import escape

            shown = escape(visible(str(target)))
            env.out.print(f"wrote {shown}; try: attncli run -c {shown} \"She ate the apple\"", soft_wrap=True)

    guarded(out, body)


@app.command("show")
@output_options
def show(
    name: Annotated[Optional[str], typer.Argument(
        metavar="[NAME_OR_PATH]", autocompletion=complete_config,
        help="A config file or bundled name (default: the built-in defaults).")] = None,
    *,
    out: OutputOptions,
) -> None:
    """Print a config with every default filled in (YAML, or JSON with --json)."""

    def body(env):
        import yaml

        from attncli.config import load_settings
        from attncli.documents.jsonout import dumps

        if out.save is not None:
            from attncli.render.export import check_path

            check_path(out.save)
        settings = load_settings(name)
        doc = settings.to_config()
        json_text = dumps(doc)
        from attncli.io.textsafe import visible

        header = f"# {visible(str(settings.source or 'defaults'))}: every key resolved\n"  # a comment: one line
        text = header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=100)
        from rich.syntax import Syntax

        syntax = Syntax(text, "yaml", background_color="default")
        console = env.out
        if out.save is not None:  # first: a reader that leaves early (| head -1) does not cost the file
            from attncli.render.export import render_to

            render_to(out.save, syntax, json_text)
        if out.json:
            env.stdout.write(json_text + "\n")
        elif console.is_terminal:
            console.print(syntax)
        else:
            env.stdout.write(text)

    guarded(out, body)


@app.command("validate")
@basic_output_options
def validate(
    path: Annotated[str, typer.Argument(metavar="PATH", autocompletion=complete_config,
                                        help="The config file (or bundled name) to check.")],
    *,
    out: BasicOutputOptions,
) -> None:
    """Check a config and report every problem found, not just the first."""

    def body(env):
        from attncli.config import check_problems
        from attncli.errors import AttnError

        settings, problems = check_problems(path, where="PATH")
        if problems:
            raise AttnError(problems[0], kind="config", details=problems[1:])
        a = settings.attention
        from attncli.core.numbers import plural

        summary = (f"d_model {settings.d_model}, {plural(a.heads, 'head')}, projections {a.projections}, "
                   f"d_k {settings.d_k}, d_v {settings.d_v}, d_out {settings.d_out}")
        if out.json:
            from attncli.documents.jsonout import dumps

            env.stdout.write(dumps({"valid": True, "source": settings.source, "config": settings.to_dict()}) + "\n")
        else:
            from rich.markup import escape

            from attncli.io.textsafe import visible

            env.out.print(f"ok: {escape(visible(str(settings.source)))} is valid ({summary})", soft_wrap=True)

    guarded(out, body)


@app.command("list")
@basic_output_options
def list_configs(*, out: BasicOutputOptions) -> None:
    """List the bundled configs with a one-line description each."""

    def body(env):
        from attncli.config import bundled_dir, bundled_names, read_document
        from attncli.documents.jsonout import dumps

        rows = []
        for name in bundled_names():
            doc, _, _ = read_document(str(bundled_dir() / f"{name}.yaml"))
            description = doc.data.get("description") if isinstance(doc.data, dict) else None
            rows.append({"name": name, "description": description})
        if out.json:
            env.stdout.write(dumps(rows) + "\n")
            return
        from rich import box
        from rich.table import Table

        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        table.add_column("name", style="bold", no_wrap=True)
        table.add_column("description")
        for row in rows:
            table.add_row(row["name"], row["description"] or "")
        console = env.out
        console.print(table)
        console.print("use one with: attncli run -c NAME TEXT", style="dim")

    guarded(out, body)
