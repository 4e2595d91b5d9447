"""Pooling a matrix into fewer cells for a view: one rule for run, the grid and the browser.

A matrix of R query rows and N keys that does not fit its space is shown in blocks of
``f`` x ``g`` cells, with ``f = ceil(R / rows)`` and ``g = ceil(N / cols)``: every block holds
the same number of cells (the last one of a row or column may hold fewer), so a block's place
says which positions it covers (block ``b`` is rows ``b*f`` to ``b*f + f - 1``). A block shows
the MEAN of the weights it covers, masked (causal) cells left out; a block every cell of which
is masked stays masked. The mean keeps a block's share of the attention (the sum of a row of
blocks is the block row's sum divided by ``f * g``); the maximum would paint a matrix with a
few strong weights as mostly strong. Pure torch, no view code.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from attncli.core.devices import import_torch

torch = import_torch()


@dataclass(frozen=True)
class Pooling:
    """How a matrix of ``rows`` x ``cols`` is pooled: blocks of ``row_factor`` x ``col_factor`` cells."""

    rows: int
    cols: int
    row_factor: int
    col_factor: int

    @property
    def out_rows(self) -> int:
        return ceil(self.rows / self.row_factor) if self.rows else 0

    @property
    def out_cols(self) -> int:
        return ceil(self.cols / self.col_factor) if self.cols else 0

    @property
    def pooled(self) -> bool:
        return self.row_factor > 1 or self.col_factor > 1

    def block_of_row(self, row: int) -> int:
        return row // self.row_factor

    def first_row(self, block: int) -> int:
        return block * self.row_factor

    def first_col(self, block: int) -> int:
        return block * self.col_factor

    def phrase(self) -> str:
        """In words, for a view's note: '63 x 63 pooled to 32 x 32 (mean of 2 x 2 blocks)'."""
        if not self.pooled:
            return f"{self.rows} x {self.cols}, one cell per weight"
        return (f"{self.rows} x {self.cols} pooled to {self.out_rows} x {self.out_cols} "
                f"(each cell the mean of a {self.row_factor} x {self.col_factor} block)")


def plan(rows: int, cols: int, max_rows: int, max_cols: int) -> Pooling:
    """The pooling that fits ``rows`` x ``cols`` into at most ``max_rows`` x ``max_cols`` cells."""
    return Pooling(rows, cols, max(1, ceil(rows / max(1, max_rows))), max(1, ceil(cols / max(1, max_cols))))


def mean_pool(matrix, pooling: Pooling):
    """(R, N) -> (ceil(R/f), ceil(N/g)): the mean of each block's finite cells; -inf where none is.

    Masked cells are -inf (or NaN) in ``matrix``; computed in float64.
    """
    m = matrix.double()  # (R, N)
    if not pooling.pooled:
        return m
    f, g = pooling.row_factor, pooling.col_factor
    out_r, out_c = pooling.out_rows, pooling.out_cols
    padded = torch.full((out_r * f, out_c * g), float("nan"), dtype=torch.float64, device=m.device)  # (R', N')
    padded[: m.shape[0], : m.shape[1]] = m
    padded = padded.masked_fill(~torch.isfinite(padded), float("nan"))  # masked -> NaN
    blocks = padded.view(out_r, f, out_c, g).permute(0, 2, 1, 3).reshape(out_r, out_c, f * g)  # (r, c, f*g)
    live = ~blocks.isnan()  # (r, c, f*g)
    total = blocks.nan_to_num(0.0).sum(-1)  # (r, c)
    count = live.sum(-1)  # (r, c)
    mean = total / count.clamp(min=1)  # (r, c)
    return mean.masked_fill(count == 0, float("-inf"))  # (r, c)


def pool_lists(matrix: list[list[float | None]], pooling: Pooling) -> list[list[float | None]]:
    """:func:`mean_pool` for a view's nested lists (None: masked) -> nested lists (None: masked)."""
    if not pooling.pooled:
        return [list(row) for row in matrix]
    tensor = torch.tensor([[float("-inf") if w is None else w for w in row] for row in matrix],
                          dtype=torch.float64)  # (R, N)
    pooled = mean_pool(tensor, pooling)  # (r, c)
    return [[None if w == float("-inf") else w for w in row] for row in pooled.tolist()]
