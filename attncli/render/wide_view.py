"""A matrix with more keys than the terminal has columns: pooled by default, in key blocks on request.

``run`` on a long text (113 tokens in 80 columns) draws one compact heatmap whose cells are
blocks of weights (attncli.core.pooling: the mean of even square blocks), so the picture fits
one screen; ``--view compact`` asks for every weight, and gets the compact heatmap split into
blocks of keys that each fit the width (the row labels repeated), the way wide tables are split.
"""

from __future__ import annotations

from math import ceil

from rich.console import RenderableType
from rich.text import Text

from attncli.core.numbers import plural
from attncli.core.pooling import Pooling, pool_lists
from attncli.render.layout import Scale, note
from attncli.render.matrix import compact_columns, compact_heatmap
from attncli.errors import option

#: A pooled picture keeps at most this many lines of query rows.
POOLED_ROWS = 40


def _scales(matrices: list[list[list]], mode: str) -> list[Scale]:
    """One scale for all the matrices; ``row``: each matrix's rows their own ranges."""
    if mode == "row":
        return [Scale.over([m], mode) for m in matrices]
    return [Scale.over(matrices, mode)] * len(matrices)


def pooled_views(tokens: list[str], matrices: list[list[list]], titles: list[str], *, query_rows: list[int] | None,
                 width: int, mode: str, precision: int | None, meaning: str | None = None) -> list[RenderableType]:
    """Each matrix ([R][N], masked cells None) pooled to fit ``width``, one scale for all (``meaning``: the
    legend's words)."""
    rows, cols = len(matrices[0]), len(matrices[0][0])
    key_factor = ceil(cols / compact_columns(tokens, width))
    row_factor = 1 if query_rows is not None else max(key_factor, ceil(rows / POOLED_ROWS))
    how = Pooling(rows, cols, row_factor, max(key_factor, row_factor if query_rows is None else 1))
    pooled = [pool_lists(m, how) for m in matrices]
    scales = _scales(pooled, mode)
    parts: list[RenderableType] = []
    for number, (matrix, title) in enumerate(zip(pooled, titles)):
        parts.append(compact_heatmap(tokens, matrix, title=title, query_rows=query_rows, width=width,
                                     scale=scales[number],
                                     precision=precision, show_legend=number == len(pooled) - 1, pooling=how, meaning=meaning))
        parts.append(Text(""))
    parts += note(f"pooled: {how.phrase()}; a line names its first query. {option('view')} compact draws every weight "
                  f"(in blocks of keys), {option('top_k')} K lists the strongest links, {option('json')} has them all",
                  width)
    return parts


def key_block_views(tokens: list[str], matrices: list[list[list]], titles: list[str], *,
                    query_rows: list[int] | None, width: int, mode: str, precision: int | None,
                    meaning: str | None = None) -> list[RenderableType]:
    """Each matrix ([R][N], masked None) as compact heatmaps of as many keys as fit ``width``."""
    n = len(matrices[0][0])
    per = compact_columns(tokens, width)
    scales = _scales(matrices, mode)
    blocks = [range(start, min(start + per, n)) for start in range(0, n, per)]
    parts: list[RenderableType] = []
    for number, (matrix, title) in enumerate(zip(matrices, titles)):
        for b, keys in enumerate(blocks):
            last = number == len(matrices) - 1 and b == len(blocks) - 1
            parts.append(compact_heatmap(tokens, matrix, title=title if b == 0 else None, query_rows=query_rows,
                                         width=width, scale=scales[number], precision=precision, show_legend=last,
                                         keys=keys, meaning=meaning))
            parts.append(Text(""))
    parts += note(f"{plural(n, 'key')} in {plural(len(blocks), 'block')} of up to {per}; each row's largest "
                  f"weight: {option('top_k')} 1", width)
    return parts
