"""The program's outermost error boundary: usage errors, stray errors, closed and failing streams.

:class:`AttnGroup` is the Typer app's group class. It runs Click in non-standalone mode and
turns what comes out into the documented exit codes (README, "Exit codes"):

* Click/Typer usage errors (``--heads abc``, an unknown option, ``--save somedir.svg``,
  ``--save ""``, a missing argument) become one ``attncli: error: WHERE: WHAT (HOW)`` line,
  plus the JSON error object line under ``--json``; exit 2. (``attncli`` with no arguments
  still prints the help.)
* Every float option refuses nan and inf (the callbacks are wrapped when the app is built),
  so no command can forget: ``--max-weights-mb nan``, ``bench --memory-mb inf``.
* An AttnError raised outside a command's own boundary is reported the same way;
  Ctrl-C is exit 130, SIGTERM 143, SIGHUP 129.
* :func:`settle` is the one error boundary: :func:`attncli.cli.output.guarded` (every command
  body) and the group both turn exceptions into a line and an exit code through it, on the one
  Environment the group makes for the invocation (``ctx.obj``).

:func:`guard_standard_streams` and :func:`finish` are for the real process (``cli.main``):
a closed stdout or stderr (``>&-``) and a stdout that fails at the last flush (``> /dev/full``,
``| head -1``) end with the right exit code and no "Exception ignored" noise.

Imports no torch (``attncli --help`` stays fast).
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any, Callable, Sequence

import typer
from typer import Abort, Exit
from typer.core import TyperCommand, TyperGroup

from attncli.cli.integers import require_ascii_integers
from attncli.errors import AttnError, ExitCode

try:  # Typer >= 0.20 carries its own copy of Click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older Typer on Click
    from click import exceptions as click_exceptions

#: Click 8.2+ raises this for a bare group with no_args_is_help (the help is already shown).
NO_ARGS_IS_HELP = getattr(click_exceptions, "NoArgsIsHelpError", ())


def _option_name(param: Any) -> str:
    """``--temperature`` for an option (its longest name), ``TEXT`` for an argument."""
    if param is None:
        return ""
    if getattr(param, "param_type_name", "") == "option" and getattr(param, "opts", None):
        return max(param.opts, key=len)
    return str(getattr(param, "metavar", None) or getattr(param, "name", "") or "").upper()


def _finite_callback(original):
    def callback(ctx, param, value):
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if isinstance(item, float) and not math.isfinite(item):
                raise AttnError(f"must be a finite number, got {item!r}", where=_option_name(param),
                                hint="NaN and infinite values are not allowed")
        return original(ctx, param, value) if original is not None else value

    callback.attncli_finite = True
    return callback


def require_finite_floats(command: Any) -> None:
    """Wrap the callback of every parameter of ``command`` and its subcommands with a nan/inf check."""
    for param in getattr(command, "params", ()):
        if not getattr(param.callback, "attncli_finite", False):
            param.callback = _finite_callback(param.callback)
    for sub in getattr(command, "commands", {}).values():
        require_finite_floats(sub)


#: Metavars by a parameter's type, for options that name none: upper-case words, as PATH and K are.
_METAVARS = {"int": "N", "float": "NUMBER", "str": "TEXT", "Path": "PATH", "bool": " "}


def _no_type(ctx: Any = None) -> None:
    return None


def usage_piece(metavar: str, required: bool, nargs: int) -> str:
    """An argument in a usage line as POSIX writes it: ``PATH`` required, ``[PATH]`` optional, ``TEXT...``
    repeated (Typer writes ``{PATH}``, and ``[[NAME]]`` for a metavar that has its brackets already)."""
    name = metavar[1:-1] if metavar.startswith("[") and metavar.endswith("]") else metavar
    piece = name if required else f"[{name}]"
    return piece if nargs == 1 or "..." in piece else piece + "..."


def tidy_metavars(command: Any) -> None:
    """One style of metavar in every help page: ``N``, ``NUMBER``, ``TEXT``, arguments by their upper-case
    name (``TEXT``, ``PATH``), flags (``--json``, ``--help``) without one (never ``<int>`` or ``<bool>``)."""
    for param in getattr(command, "params", ()):
        if getattr(param, "param_type_name", "") == "argument":
            param.metavar = param.metavar or param.name.upper()
            param.display_type_rich = _no_type  # the name says it: TEXT, not "TEXT <str>" or "<list[str]>"
            param.get_usage_pieces = lambda ctx, param=param: [usage_piece(param.metavar, param.required, param.nargs)]
            continue
        if param.metavar is not None:
            continue
        try:
            kind = param.bare_type() if hasattr(param, "bare_type") else getattr(param.type, "name", "")
        except Exception:  # noqa: BLE001 - a type Typer cannot name: a plain word
            kind = ""
        kind = kind.split("[")[-1].rstrip("]")  # list[str] -> str
        if getattr(param, "is_flag", False) or kind == "bool":
            param.metavar = " "
        else:
            param.metavar = _METAVARS.get(kind, "VALUE")
    if hasattr(command, "get_help_option") and not getattr(command, "attncli_help", False):
        made = command.get_help_option

        def get_help_option(ctx, made=made):  # --help is a flag: no "<bool>"
            option = made(ctx)
            if option is not None:
                option.display_type_rich = _no_type
            return option

        command.get_help_option = get_help_option
        command.attncli_help = True
    if getattr(command, "help", None):
        command.help = reflow(command.help)
    for sub in getattr(command, "commands", {}).values():
        tidy_metavars(sub)


def forms_command(*forms: str, apart: tuple[str, ...] = ()) -> type:
    """A command class whose usage shows each of ``forms`` as a line of its own (``or: attncli heads
    merge PART...``) and leaves the arguments named in ``apart`` out of the first line: without it,
    Click prints an optional variadic argument as ``[[merge PART...]]...``."""

    class FormsCommand(TyperCommand):
        def collect_usage_pieces(self, ctx: Any) -> list[str]:
            pieces = [self.options_metavar] if self.options_metavar else []
            for param in self.get_params(ctx):
                if param.name not in apart:
                    pieces += param.get_usage_pieces(ctx)
            return pieces

        def format_usage(self, ctx: Any, formatter: Any) -> None:
            formatter.write_usage(ctx.command_path, " ".join(self.collect_usage_pieces(ctx)))
            for form in forms:
                formatter.write_usage(ctx.command_path, form, prefix="   or: ")

    return FormsCommand


def reflow(text: str) -> str:
    """A help text whose paragraphs are one line each, so that Rich wraps them at the terminal's width.

    Typer keeps a docstring's line breaks and Rich wraps again at 80 columns, which broke lines in
    mid-sentence ("from the" / "ordinary" / "vocabulary"). Paragraphs that start with ``\\b``
    (examples) keep their lines.
    """
    import inspect

    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(p if p.startswith("\b") else " ".join(part.strip() for part in p.splitlines())
                       for p in paragraphs)


def usage_error(exc: Any) -> AttnError:
    """A Click usage error as an AttnError: ``WHERE: what`` and a pointer to ``--help``."""
    ctx = getattr(exc, "ctx", None)
    hint = f"see '{ctx.command_path} --help'" if ctx is not None else None
    code = ExitCode(exc.exit_code) if exc.exit_code in (1, 2) else ExitCode.USAGE
    if isinstance(exc, click_exceptions.NoSuchOption):
        if exc.possibilities:
            hint = "did you mean " + " or ".join(sorted(exc.possibilities)) + "?"
        return AttnError("no such option", where=exc.option_name, hint=hint, kind="usage", code=code)
    if isinstance(exc, click_exceptions.BadParameter):
        where = exc.param_hint if isinstance(exc.param_hint, str) else _option_name(exc.param)
        if isinstance(exc, click_exceptions.MissingParameter):
            what = "option" if getattr(exc.param, "param_type_name", "") == "option" else "argument"
            message = f"missing {what}" + (f": {exc.message}" if exc.message else "")
        else:
            message = exc.message.rstrip(".") or "invalid value"
        return AttnError(message, where=where or None, hint=hint, kind="usage", code=code)
    message = exc.format_message().strip().splitlines()
    return AttnError(message[0] if message else type(exc).__name__, hint=hint, kind="usage", code=code)


def _wants(args: Sequence[str], flag: str) -> bool:
    options = list(args)[:list(args).index("--")] if "--" in args else list(args)
    return flag in options


def current_environment():
    """The Environment the app's group made for this invocation (None outside one)."""
    from attncli.cli.output import Environment

    try:
        from typer._click.globals import get_current_context
    except ImportError:  # pragma: no cover - older Typer on Click
        from click import get_current_context
    ctx = get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return obj if isinstance(obj, Environment) else None


def settle(env, exc: BaseException) -> int:
    """The one error boundary: what an exception out of a command means, reported through ``env``.

    An AttnError is its one line (and JSON object line) and its code; a reader that left (``|
    head -1``) is 0, stdout silenced; Ctrl-C is 130, SIGTERM 143, SIGHUP 129 (one line: the
    temporary files are already gone); out of memory and anything unexpected are one line, 1
    (the traceback only with ``--debug``). SystemExit and Click's own exits pass through.
    """
    from attncli.io.signals import exit_code, message

    if isinstance(exc, (SystemExit, Exit)):
        raise exc
    try:
        if isinstance(exc, AttnError):
            if env.debug:
                env.err.print_exception()
            env.report(exc)
            return int(exc.code)
        if isinstance(exc, BrokenPipeError):
            env.stop_stdout()  # and keep Python from complaining at exit
            return int(ExitCode.OK)
        if isinstance(exc, KeyboardInterrupt):
            env.err.print(f"attncli: {message(exc)}")
            return exit_code(exc)
        if isinstance(exc, MemoryError):
            env.report(AttnError("out of memory", kind="memory", code=ExitCode.FAILURE,
                                 hint="use a shorter input or a smaller --max-weights-mb"))
            return int(ExitCode.FAILURE)
        if not isinstance(exc, Exception):
            raise exc
        if env.debug:
            env.err.print_exception()
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "out of memory" in text.lower():
            error = AttnError(f"out of memory: {text}", kind="memory", code=ExitCode.FAILURE,
                              hint="use a shorter input, --dtype bfloat16, or --device cpu")
        else:
            error = AttnError(f"internal error: {type(exc).__name__}: {text}", kind="internal",
                              code=ExitCode.FAILURE, hint=None if env.debug else "run again with --debug for details")
        env.report(error)
        return int(ExitCode.FAILURE)
    except (OSError, AttnError):  # stderr itself is gone: the exit code still tells
        if isinstance(exc, KeyboardInterrupt):
            return exit_code(exc)
        return int(exc.code) if isinstance(exc, AttnError) else int(ExitCode.FAILURE)


def guarded(out, body: Callable[[Any], Any], env=None) -> Any:
    """Run a command body in the error boundary: user errors become one line and an exit status.

    ``env`` is the Environment of this invocation (by default the one the app's group made, or a
    new one on ``sys.*``); the boundary itself is :func:`settle`.
    """
    from attncli.cli.output import Environment

    env = env or current_environment() or Environment()
    env.as_json, env.debug = out.json, out.debug
    env.color = getattr(out, "color", None)
    try:
        out.check(env)
        result = body(env)
    except typer.Exit as done:
        env.note_encoding()
        raise done
    except BaseException as exc:  # noqa: BLE001 - settle re-raises what it does not own (SystemExit)
        raise typer.Exit(settle(env, exc)) from None
    env.note_encoding()
    return result


class AttnGroup(TyperGroup):
    """The root group: one Environment and one reporter for every error, whether Typer or a command raised it."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        from attncli.cli.output import Environment
        from attncli.cli.params import command_line_naming

        args = list(sys.argv[1:] if args is None else args)
        require_finite_floats(self)
        require_ascii_integers(self)
        tidy_metavars(self)
        env = extra.pop("obj", None)
        if not isinstance(env, Environment):
            env = Environment(as_json=_wants(args, "--json"), debug=_wants(args, "--debug"))
        with command_line_naming():  # messages name --flags, not the API's parameters
            try:
                code = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                                    standalone_mode=False, obj=env, **extra)
            except NO_ARGS_IS_HELP as exc:  # bare `attncli`: the help, as before
                code = exc.exit_code
            except click_exceptions.ClickException as exc:
                code = settle(env, usage_error(exc))
            except Abort:
                code = settle(env, AttnError("aborted", kind="usage", code=ExitCode.FAILURE))
            except (AttnError, KeyboardInterrupt) as exc:
                code = settle(env, exc)
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


def _report(error: AttnError, args: Sequence[str]) -> int:
    """Report an error outside any command (the process's last flush) on a fresh Environment."""
    from attncli.cli.output import Environment

    return settle(Environment(as_json=_wants(args, "--json")), error)


# --------------------------------------------------------------------------- the real process


def _reserve(fd: int) -> None:
    """Open /dev/null on a closed descriptor, so no file we open later lands on fd 1 or 2."""
    try:
        os.fstat(fd)
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        if devnull != fd:
            os.dup2(devnull, fd)
            os.close(devnull)


def guard_standard_streams() -> None:
    """A process started with stdout or stderr closed gets stand-ins instead of ``None``.

    Writing to a closed stdout is one error (exit 1: the output cannot be delivered); a
    closed stderr swallows messages and leaves exit codes alone (a usage error stays 2).
    """
    from attncli.io.streams import CheckedStream, ClosedStream, rebuilt_with_whole_writes

    if sys.stdout is None:
        _reserve(1)
        sys.stdout = ClosedStream("stdout", strict=True)
    else:  # every write complete or an error (a short write on a filling disk is not success)
        sys.stdout = CheckedStream(rebuilt_with_whole_writes(sys.stdout), "stdout", strict=True)
    if sys.stderr is None:
        _reserve(2)
        sys.stderr = ClosedStream("stderr", strict=False)
    else:
        sys.stderr = CheckedStream(sys.stderr, "stderr", strict=False)


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null so Python's own flush at exit has nowhere to fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def finish(code: int, *, as_json: bool = False) -> int:
    """Flush stdout and settle the exit code: a reader that left is fine, a failed write is 1.

    After a failed flush fd 1 points at /dev/null, so Python's own flush at exit cannot fail
    again (it would print "Exception ignored" and exit 120).
    """
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # `| head -1`: the reader has what it wanted
        _silence_stdout()
    except (OSError, AttnError) as exc:  # `> /dev/full`, a disk that filled up
        _silence_stdout()
        if code != 0:  # already reported by the command
            return code
        if not isinstance(exc, AttnError):
            exc = AttnError(f"cannot write the output: {exc.strerror or exc}", where="stdout", kind="io",
                            code=ExitCode.FAILURE)
        return _report(exc, ["--json"] if as_json else [])
    return code
