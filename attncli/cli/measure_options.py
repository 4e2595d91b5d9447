"""``--measure``, ``--max-passes``, ``--ablate``, ``--ablate-mode``: the options of what flows and what matters.

One option group (see attncli.cli.options) shared by run, compare, explain, heads and browse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import typer

from attncli.cli.options import MODEL_PANEL, _option_group, choices
from attncli.errors import AttnError

MEASURE_PANEL = "Measures and ablation"
MEASURE_NAMES = ("weights", "norm", "mixing", "alti", "value-zeroing")


@dataclass
class MeasureOptions:
    measure: Optional[str] = None
    max_passes: Optional[int] = None
    ablate: Optional[str] = None
    ablate_mode: str = "zero"

    def name(self) -> str:
        from attncli.core.measures import check_measure

        return check_measure(self.measure)

    def check(self, mdl, *, rollout: bool = False) -> str:
        """The measure's name, after the checks that need no model."""
        from attncli.core import measures
        from attncli.models.ablation import check_mode

        name = self.name()
        if self.max_passes is not None:
            if self.max_passes < 1:
                raise AttnError(f"must be at least 1, got {self.max_passes}", where="--max-passes")
            if name != "value-zeroing":
                raise AttnError("--max-passes goes with --measure value-zeroing", where="--max-passes")
        check_mode(self.ablate_mode)
        if self.ablate is not None and mdl.model is None:
            raise AttnError("--ablate goes with --model", where="--ablate", hint="e.g. --model smollm2 --ablate 3.1")
        if self.ablate is None and self.ablate_mode != "zero":
            raise AttnError("--ablate-mode goes with --ablate", where="--ablate-mode")
        if rollout and not measures.normalized(name):
            raise AttnError(f"--rollout does not apply to --measure {name} (its rows do not sum to 1)",
                            where="--rollout", hint="use it with --measure weights, alti or value-zeroing")
        return name

    def run_kwargs(self, runner, mdl, progress=None) -> dict:
        """What runner.run takes for these options (the layers chosen, the heads ablated)."""
        name = self.name()
        if getattr(runner, "transformer", None) is None:
            return {"measure": name}
        from attncli.core.record import parse_layer
        from attncli.models.ablation import parse_heads

        count = int(runner.config["model"]["layers"])
        heads = parse_heads(self.ablate, count, runner.heads)
        return {"measure": name, "layers": parse_layer(mdl.layer, count), "max_passes": self.max_passes,
                "ablate": heads, "ablate_mode": self.ablate_mode, "progress": progress}


MEASURE_PARAMS: dict[str, tuple[Any, Any]] = {
    "measure": (Optional[str], typer.Option(
        "--measure", metavar="NAME", rich_help_panel=MEASURE_PANEL, autocompletion=choices(*MEASURE_NAMES),
        help="What the matrix holds: weights (softmax, default), norm (||alpha f(x)||, Kobayashi 2020), mixing "
             "(with residual and layer norm, Kobayashi 2021), alti (Ferrando 2022) or value-zeroing "
             "(Mohebbi 2023).")),
    "max_passes": (Optional[int], typer.Option(
        "--max-passes", metavar="N", rich_help_panel=MEASURE_PANEL,
        help="With --measure value-zeroing: the most layer passes (tokens x layers) allowed (default 4096).")),
    "ablate": (Optional[str], typer.Option(
        "--ablate", metavar="L.H[,L.H...]", rich_help_panel=MODEL_PANEL,
        help="With --model: compute everything with these heads removed (0-based layer.head), and show what "
             "changed.")),
    "ablate_mode": (str, typer.Option(
        "--ablate-mode", metavar="zero|mean|first", rich_help_panel=MODEL_PANEL,
        autocompletion=choices("zero", "mean", "first"),
        help="How --ablate removes a head: zero its output, replace it with its mean over positions, or send "
             "its pattern to the first token.")),
}

measure_options = _option_group("msr", MeasureOptions, MEASURE_PARAMS)


class PassProgress:
    """A progress bar on stderr for value zeroing's passes, started at the first pass and gone at the last."""

    def __init__(self, description: str = "value zeroing") -> None:
        self.description = description
        self.bar = None
        self.task = None

    def __call__(self, done: int, total: int) -> None:
        from rich.console import Console

        if self.bar is None:
            console = Console(stderr=True)
            if not console.is_terminal or done >= total:
                return
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                TimeElapsedColumn(), console=console, transient=True)
            self.task = self.bar.add_task(self.description, total=total)
            self.bar.start()
        self.bar.update(self.task, completed=done, total=total)
        if done >= total:
            self.bar.stop()
            self.bar = None
