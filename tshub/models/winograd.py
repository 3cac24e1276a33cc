"""Winograd's minimal filtering (Lavin & Gray, 2016) for the 1-D convolutions of the conv blocks, in plain torch ops.

A direct stride-1 convolution spends ``k`` multiply-adds per output sample, input and output channel. F(m, k) computes
``m`` outputs of a tile from ``m + k - 1`` transformed inputs with ``m + k - 1`` products per channel pair, the
products being one batched matrix multiply over the tiles: F(4, 5) does 8 where a direct kernel 5 does 20, F(6, 3) 8
where kernel 3 does 18; the backward pass, autograd through the same linear maps, saves the same share. Written here
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

import torch
import torch.nn.functional as F

# Interpolation points of the transforms (the point at infinity is implicit): the small ones keep float32 error low.
POINTS = (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-2), Fraction(1, 2), Fraction(-1, 2))


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

    The padded input is laid out phase-major, (m, tiles + 1, N, C), so that each tile's α inputs are the m phases of
    its own stretch and the first k - 1 of the next: the input transform is two matrix multiplies on views, with no
    overlapping windows to gather (or to scatter back in the backward pass).
    """
    m = outputs_per_tile
    batch, length, channels = x.shape
    out_channels, _, kernel = weight.shape
    alpha = m + kernel - 1
    if alpha > 2 * m:
        raise ValueError(f"F({m}, {kernel}) reaches past the next tile: use at least {kernel - 1} outputs per tile")
    a_t, g, b_t = transforms(m, kernel, x.dtype, x.device)
    tiles = -(-length // m)
    padded = F.pad(x, (0, 0, left_pad, (tiles + 1) * m - length - left_pad))
    phases = padded.reshape(batch, tiles + 1, m, channels).permute(2, 1, 0, 3).contiguous()
    own, next_tile = phases[:, :tiles].reshape(m, -1), phases[: kernel - 1, 1:].reshape(kernel - 1, -1)
    inputs = (b_t[:, :m] @ own + b_t[:, m:] @ next_tile).view(alpha, tiles * batch, channels)
    kernels = (weight @ g.t()).permute(2, 1, 0)  # (α, C, O)
    products = torch.bmm(inputs, kernels)  # (α, tiles·N, O)
    outputs = (a_t @ products.view(alpha, -1)).view(m, tiles, batch, out_channels)
    out = outputs.permute(2, 1, 0, 3).reshape(batch, tiles * m, out_channels)[:, :length].contiguous()
    return out if bias is None else out + bias
