"""The Typer app: joins the commands. Imports no torch (attncli --help stays fast).

The app's group (:class:`attncli.cli.boundary.AttnGroup`) is the program's outermost error
boundary, for the real program and for in-process tests alike: Typer's own usage errors
(``--heads abc``, an unknown option, ``--save somedir``) print the same one line as every
other error, and every float option refuses nan and inf.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from attncli.version import __version__
from attncli.cli import bench, browse, compare, config_cmd, explain, generate, heads, models, run, vocab
from attncli.cli.boundary import AttnGroup, finish, guard_standard_streams

app = typer.Typer(
    cls=AttnGroup,
    name="attncli",
    help="Inspect self-attention in the terminal: weights, context vectors, and how they change with context.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(run.app)
app.add_typer(compare.app)
app.add_typer(explain.app)
app.add_typer(vocab.app)
app.add_typer(config_cmd.app, name="config")
app.add_typer(bench.app)
app.add_typer(models.app, name="models")
app.add_typer(heads.app)
app.add_typer(browse.app)
app.add_typer(generate.app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"attncli {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[bool, typer.Option(
        "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Inspect self-attention in the terminal: weights, context vectors, and how they change with context.

    Exit codes: 0 success, 1 runtime failure (non-finite result, out of memory), 2 bad input or usage.
    """


def utf8_arguments(args: list[str]) -> list[str]:
    """The arguments as UTF-8 text, whatever the locale (``LC_ALL=C PYTHONUTF8=0`` decodes them as
    ASCII, so "café" would arrive as "caf" and two stray bytes). Bytes that are not UTF-8 stay escaped."""
    import os

    if sys.getfilesystemencoding().lower().replace("-", "") == "utf8":
        return args
    fixed = []
    for arg in args:
        try:
            fixed.append(os.fsencode(arg).decode("utf-8", "surrogateescape"))
        except (UnicodeError, ValueError):
            fixed.append(arg)
    return fixed


def main() -> None:
    """The ``attncli`` program: closed stdout/stderr handled, SIGTERM and SIGHUP handled as Ctrl-C
    (temporary files removed, exit 143 and 129), stdout flushed before the exit code is final."""
    from attncli.io.signals import exit_code, install

    install()
    sys.argv[1:] = utf8_arguments(sys.argv[1:])
    guard_standard_streams()
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt as exc:  # a signal outside any command's boundary (while starting up)
        code = exit_code(exc)
    try:
        code = finish(code, as_json="--json" in sys.argv[1:])
    except KeyboardInterrupt as exc:
        code = exit_code(exc)
    sys.exit(code)
