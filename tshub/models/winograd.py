"""Winograd's minimal filtering (Lavin & Gray, 2016) for the 1-D convolutions of the conv blocks, in plain torch ops.

A direct stride-1 convolution spends ``k`` multiply-adds per output sample, input and output channel. F(m, k) computes
``m`` outputs of a tile from ``m + k - 1`` transformed inputs with ``m + k - 1`` products per channel pair, the
products being one batched matrix multiply over the tiles: F(4, 5) does 8 where a direct kernel 5 does 20, F(6, 3) 8
where kernel 3 does 18; the backward pass, through the same linear maps, saves the same share. Written here
because oneDNN on CPUs without AVX-512 has no Winograd 1-D convolution and runs the FCN's float32 convolutions at
about three quarters of its matrix-multiply rate (bench/results/fcn_conv_layers*.md), so fewer multiplies are the
gain left; ``tshub.models.cpu.winograd_tile`` says where it was measured to pay (bench/results/fcn_step*.md).

Exact in exact arithmetic; in float32 its error is of the order of a direct convolution's (max relative error
≈ 2e-6 against float64, about twice the direct one's, tested); never used under bfloat16 autocast, whose 8-bit mantissa
the transforms would amplify.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from typing import Any

import torch

# Interpolation points of the transforms (the point at infinity is implicit): the small ones keep float32 error low.
POINTS = (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-2), Fraction(1, 2), Fraction(-1, 2))

# Without gradients, a batch is convolved in parts whose products stay under this (conv1d_time_major).
INFERENCE_PRODUCTS_BYTES = 256 * 2**20

Matrix = tuple[tuple[float, ...], ...]


def transforms(
    outputs: int, kernel: int, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A^T (m × α), G (α × k) and B^T (α × α) of F(m, k), α = m + k - 1, as tensors made for this call (a cached
    tensor would keep the mode of the call that made it, inference mode included)."""
    a_t, g, b_t = (torch.tensor(matrix, dtype=dtype, device=device) for matrix in exact_transforms(outputs, kernel))
    return a_t, g, b_t


@functools.cache
def exact_transforms(outputs: int, kernel: int) -> tuple[Matrix, Matrix, Matrix]:
    """A^T, G and B^T of F(m, k), computed exactly, rounded once to floats.

    Correlation is the transpose of polynomial multiplication: with V_n evaluating a polynomial of degree < n at the
    α points (at infinity: its leading coefficient), y = V_m^T [(V_k g) ⊙ (V_α^{-T} d)] for a tile d of α inputs and
    a kernel g.
    """
    alpha = outputs + kernel - 1
    if not 2 <= alpha <= len(POINTS) + 1:
        raise ValueError(f"F({outputs}, {kernel}) needs {alpha - 1} finite points; {len(POINTS)} are defined")
    points = POINTS[: alpha - 1]

    def evaluation(n: int) -> list[list[Fraction]]:
        rows = [[p**j for j in range(n)] for p in points]
        return [*rows, [Fraction(0)] * (n - 1) + [Fraction(1)]]

    def floats(rows: list[list[Fraction]] | list[tuple[Fraction, ...]]) -> Matrix:
        return tuple(tuple(float(value) for value in row) for row in rows)

    v_out, v_kernel, v_full = evaluation(outputs), evaluation(kernel), evaluation(alpha)
    return floats(list(zip(*v_out))), floats(v_kernel), floats(list(zip(*_inverse(v_full))))


def _inverse(matrix: list[list[Fraction]]) -> list[list[Fraction]]:
    """The inverse of a nonsingular square matrix of Fractions (Gauss-Jordan, exact)."""
    n = len(matrix)
    rows = [[*row, *(Fraction(int(i == j)) for j in range(n))] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if rows[r][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        head = rows[col][col]
        rows[col] = [value / head for value in rows[col]]
        for r in range(n):
            if r != col and rows[r][col] != 0:
                factor = rows[r][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col])]
    return [row[n:] for row in rows]


def conv1d_time_major(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, left_pad: int, outputs_per_tile: int
) -> torch.Tensor:
    """The stride-1 convolution of ``x`` (N, T, C: time-major, any strides) with ``weight`` (O, C, k), zero-padded
    by ``left_pad`` on the left and ``k - 1 - left_pad`` on the right, as F(``outputs_per_tile``, k); returns
    (N, T, O), contiguous.

    Every stage is one pass over memory laid out for the next: the tiles' windows gathered point-major (α, tiles, N, C),
    so that the input transform is a single matrix multiply (MKL runs thin ones, of a few rows, far below its rate),
    and the output transform's (m, tiles, N, O) added back into the series with the bias. The products are α/m times
    the output; where no gradient is wanted (prediction, validation), the batch is computed in parts whose products
    stay under ``INFERENCE_PRODUCTS_BYTES``, so a large batch of long series needs little more than its output.
    """
    out_channels, _, kernel = weight.shape
    wants_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, weight, bias))
    if not wants_grad:
        alpha, tiles = outputs_per_tile + kernel - 1, -(-x.shape[1] // outputs_per_tile)
        part = max(1, INFERENCE_PRODUCTS_BYTES // (alpha * tiles * out_channels * x.element_size()))
        if x.shape[0] > part:
            out = x.new_empty(x.shape[0], x.shape[1], out_channels)
            for start in range(0, x.shape[0], part):
                out[start : start + part] = _convolve(x[start : start + part], weight, bias, left_pad, outputs_per_tile)
            return out
    return _convolve(x, weight, bias, left_pad, outputs_per_tile)


def _convolve(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, left_pad: int, outputs_per_tile: int
) -> torch.Tensor:
    """``conv1d_time_major`` of the whole batch at once."""
    m = outputs_per_tile
    batch, length, channels = x.shape
    out_channels, _, kernel = weight.shape
    alpha = m + kernel - 1
    a_t, g, b_t = transforms(m, kernel, x.dtype, x.device)
    tiles = -(-length // m)
    windows = _Windows.apply(x, left_pad, m, alpha, tiles)
    inputs = _LeftMultiply.apply(b_t, windows.view(alpha, -1)).view(alpha, tiles * batch, channels)
    kernels = (g @ weight.permute(2, 1, 0).reshape(kernel, -1)).view(alpha, channels, out_channels)
    products = torch.bmm(inputs, kernels)  # (α, tiles·N, O)
    outputs = _LeftMultiply.apply(a_t, products.view(alpha, -1)).view(m, tiles, batch, out_channels)
    return _OverlapAdd.apply(outputs, bias, m, length)


def _row_span(length: int, left_pad: int, step: int, tiles: int, row: int) -> tuple[slice, slice] | None:
    """Where window row ``row`` holds samples of the series, s = t·step + row - left_pad in [0, length): the tiles t
    and the series' times s, as slices; None where it holds only padding."""
    first = max(0, -(-(left_pad - row) // step))
    stop = min(tiles, (length - 1 + left_pad - row) // step + 1)
    if stop <= first:
        return None
    start = first * step + row - left_pad
    return slice(first, stop), slice(start, start + (stop - first - 1) * step + 1, step)


def _gather_windows(x: torch.Tensor, left_pad: int, step: int, rows: int, tiles: int) -> torch.Tensor:
    """(rows, tiles, N, C) with [j, t] = x zero-padded by ``left_pad``, at time t·``step`` + j; x is (N, T, C)."""
    x = x.contiguous()  # one transposing copy for a channel-major x, rather than one strided gather per row
    batch, length, channels = x.shape
    windows = x.new_empty(rows, tiles, batch, channels)
    for row in range(rows):
        span = _row_span(length, left_pad, step, tiles, row)
        if span is None:
            windows[row].zero_()
            continue
        tiles_read, times = span
        windows[row, : tiles_read.start].zero_()
        windows[row, tiles_read.stop :].zero_()
        windows[row, tiles_read].copy_(x[:, times].transpose(0, 1))
    return windows


def _overlap_add(
    windows: torch.Tensor, left_pad: int, step: int, length: int, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """The adjoint of ``_gather_windows``: (N, ``length``, C), each time the sum of the window rows that hold it,
    plus ``bias``. The first ``step`` rows hold every time before ``tiles·step - left_pad`` once: those are copied,
    the other rows added."""
    rows, tiles, batch, channels = windows.shape
    if rows < step:
        raise ValueError(f"{rows} window rows leave times of a {step}-step tiling uncovered")
    series = windows.new_empty(batch, length, channels)
    beyond = series[:, max(0, tiles * step - left_pad) :]  # past the first rows' reach: only added to
    if bias is None:
        beyond.zero_()
    else:
        beyond.copy_(bias.expand_as(beyond))
    for row in range(rows):
        span = _row_span(length, left_pad, step, tiles, row)
        if span is None:
            continue
        tiles_read, times = span
        target, piece = series[:, times], windows[row, tiles_read].transpose(0, 1)
        if row >= step:
            target += piece
        elif bias is None:
            target.copy_(piece)
        else:
            torch.add(piece, bias, out=target)
    return series


class _Windows(torch.autograd.Function):
    """``_gather_windows``, its gradient the overlap-add."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, left_pad: int, step: int, rows: int, tiles: int) -> torch.Tensor:
        ctx.geometry = left_pad, step, x.shape[1]
        return _gather_windows(x, left_pad, step, rows, tiles)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        return _overlap_add(grad, *ctx.geometry), None, None, None, None


class _OverlapAdd(torch.autograd.Function):
    """The tiles' outputs (m, tiles, N, O) as the series (N, T, O) plus the bias; its gradient the gather."""

    @staticmethod
    def forward(ctx: Any, outputs: torch.Tensor, bias: torch.Tensor | None, step: int, length: int) -> torch.Tensor:
        ctx.geometry = 0, step, outputs.shape[0], outputs.shape[1]
        return _overlap_add(outputs, 0, step, length, bias)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        bias_grad = grad.sum((0, 1)) if ctx.needs_input_grad[1] else None
        return _gather_windows(grad, *ctx.geometry), bias_grad, None, None


class _LeftMultiply(torch.autograd.Function):
    """``matrix @ x`` for a constant transform ``matrix``. The gradient multiplies by the transpose made contiguous:
    autograd would pass a transposed view, whose product with a few-row matrix MKL ran at half the speed."""

    @staticmethod
    def forward(ctx: Any, matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.matrix = matrix
        return matrix @ x

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        return None, ctx.matrix.t().contiguous() @ grad
