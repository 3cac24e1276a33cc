"""Winograd's 1-D convolutions (tshub.models.winograd): exact in exact arithmetic, float32-accurate, and used only
where tshub.models.cpu measured them to pay."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn.functional as F

from tshub.models import cpu, winograd
from tshub.models.base import SameConv1d
from tshub.models.winograd import conv1d_time_major, transforms

# (kernel, outputs per tile); F(2, 5) and F(1, 3): windows reaching past the next tile
TILES = [(2, 1), (2, 2), (3, 1), (3, 2), (3, 4), (3, 6), (4, 3), (4, 5), (5, 2), (5, 4)]


def conv_time_major(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, left: int) -> torch.Tensor:
    """torch's direct convolution of (N, T, C), zero-padded by ``left`` on the left and k - 1 - left on the right."""
    return F.conv1d(F.pad(x.transpose(1, 2), (left, weight.shape[2] - 1 - left)), weight, bias).transpose(1, 2)


@pytest.mark.parametrize("kernel, tile", TILES)
@pytest.mark.parametrize("length", [1, 2, 4, 5, 6, 7, 31])
def test_winograd_computes_the_convolution_and_its_gradients_exactly_in_float64(
    kernel: int, tile: int, length: int
) -> None:
    """Every left pad, not only 'same''s (regression: a pad past the window's first tile on a short series made
    the gather raise, F(2, 5) left 4 on 4 samples)."""
    for left in range(kernel):
        check_exact(kernel, tile, length, left)


def check_exact(kernel: int, tile: int, length: int, left: int) -> None:
    generator = torch.Generator().manual_seed(kernel * 100 + length * 10 + left)
    x = torch.randn(3, length, 5, dtype=torch.float64, generator=generator).requires_grad_()
    weight = torch.randn(4, 5, kernel, dtype=torch.float64, generator=generator).requires_grad_()
    bias = torch.randn(4, dtype=torch.float64, generator=generator).requires_grad_()
    expected = conv_time_major(x, weight, bias, left)
    got = conv1d_time_major(x, weight, bias, left, tile)
    assert got.shape == expected.shape and got.is_contiguous()
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    upstream = torch.randn(expected.shape, dtype=torch.float64, generator=generator)
    for want, have in zip(
        torch.autograd.grad(expected, (x, weight, bias), upstream),
        torch.autograd.grad(got, (x, weight, bias), upstream),
    ):
        torch.testing.assert_close(have, want, rtol=1e-10, atol=1e-10)


def test_winograd_has_second_derivatives() -> None:
    """Gradient penalties differentiate the gradient: the custom backward passes are differentiable too."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 7, 3, dtype=torch.float64, generator=generator).requires_grad_()
    weight = torch.randn(2, 3, 3, dtype=torch.float64, generator=generator).requires_grad_()
    bias = torch.randn(2, dtype=torch.float64, generator=generator).requires_grad_()
    assert torch.autograd.gradgradcheck(lambda *args: conv1d_time_major(*args, 1, 2), (x, weight, bias))


def test_without_gradients_winograd_computes_a_large_batch_in_parts_to_the_same_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Prediction and validation batches of long series: the products (α/m times the output) of 256 series of 10 000
    samples through the FCN's widest layer would take 5 GB at once; computed in parts they stay under the bound."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(5, 37, 4, dtype=torch.float64, generator=generator)
    weight = torch.randn(3, 4, 5, dtype=torch.float64, generator=generator)
    bias = torch.randn(3, dtype=torch.float64, generator=generator)
    whole = conv1d_time_major(x, weight, bias, 2, 4)
    batched, convolve = [], winograd._convolve
    monkeypatch.setattr(winograd, "_convolve", lambda x, *args: batched.append(len(x)) or convolve(x, *args))
    monkeypatch.setattr(winograd, "INFERENCE_PRODUCTS_BYTES", 8 * 10 * 3 * 8 * 2)  # two series' products
    with torch.no_grad():
        parts = conv1d_time_major(x, weight, bias, 2, 4)
    assert batched == [2, 2, 1] and parts.is_contiguous()
    torch.testing.assert_close(parts, whole, rtol=1e-12, atol=1e-12)
    batched.clear()
    conv1d_time_major(x.requires_grad_(), weight, bias, 2, 4)  # a training step: the whole batch, for its backward
    assert batched == [5]


def test_winograd_takes_any_input_strides_and_no_bias() -> None:
    x = torch.randn(2, 6, 9, dtype=torch.float64)  # (N, C, T): the transposed view is what a plain block passes
    weight = torch.randn(3, 6, 3, dtype=torch.float64)
    got = conv1d_time_major(x.transpose(1, 2), weight, None, 1, 6)
    torch.testing.assert_close(got, conv_time_major(x.transpose(1, 2), weight, None, 1), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kernel", sorted(cpu.WINOGRAD_TILES))
def test_winograd_in_float32_errs_within_1e_5_of_the_range(kernel: int) -> None:
    """On the FCN's shapes the float64-referenced errors of the output and the gradients stay within 1e-5 of their
    range (the transforms' points are the small ones; F(6, 5) and F(8, 3), measured at 1.2e-5 to 2.7e-5, were not
    adopted), far below bfloat16's 4e-3. Regression: the output's bound was also 4x the direct float32
    convolution's error, which depends on the CPU's kernel (1.1e-6 on a Zen 3's AVX2, 1.3e-7 on a Zen 4's AVX-512:
    bench/results/fcn_conv_layers_zen*.md), so the test failed on AVX-512 at Winograd's usual 2e-6."""
    generator = torch.Generator().manual_seed(kernel)
    x = torch.randn(16, 300, 128, generator=generator).relu()
    weight = torch.randn(128, 128, kernel, generator=generator) / (128 * kernel) ** 0.5
    upstream = torch.randn(16, 300, 128, generator=generator)
    left, tile = (kernel - 1) // 2, cpu.WINOGRAD_TILES[kernel]
    results = {}
    for dtype in (torch.float64, torch.float32):
        given, kernels = x.to(dtype).clone().requires_grad_(), weight.to(dtype).clone().requires_grad_()
        convolve = conv_time_major if dtype == torch.float64 else partial(conv1d_time_major, outputs_per_tile=tile)
        out = convolve(given, kernels, None, left)
        out.backward(upstream.to(dtype))
        results[dtype] = [t.detach().double() for t in (out, given.grad, kernels.grad)]
    errors = [
        float((a - b).abs().max() / b.abs().max()) for a, b in zip(results[torch.float32], results[torch.float64])
    ]
    assert max(errors) < 1e-5, errors


def test_transforms_are_refused_beyond_the_points() -> None:
    with pytest.raises(ValueError, match="finite points"):
        transforms(6, 5)


@pytest.fixture
def winograd_pays(monkeypatch: pytest.MonkeyPatch) -> None:
    """Winograd's convolutions where their shapes and dtype allow, on any machine (``tshub.models.cpu``)."""
    monkeypatch.setattr(cpu, "winograd_pays", lambda device: True)


def test_a_wide_block_convolution_runs_as_winograd_channels_last_to_the_same_values(winograd_pays: None) -> None:
    torch.manual_seed(0)
    conv = SameConv1d(128, 128, 5, channels_last=True)
    plain = SameConv1d(128, 128, 5)
    plain.load_state_dict(conv.state_dict())
    calls = []
    conv.register_forward_hook(lambda module, inputs, output: calls.append(output))
    x = torch.randn(4, 128, 37)
    assert cpu.winograd_tile(x, conv) == cpu.WINOGRAD_TILES[5]
    out = conv(x)
    assert out.transpose(1, 2).is_contiguous() and len(calls) == 1
    torch.testing.assert_close(out, plain(x), rtol=1e-4, atol=1e-5)


def test_winograd_is_not_used_where_it_was_not_measured_to_pay(
    winograd_pays: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = torch.randn(2, 128, 20)
    wide = SameConv1d(128, 128, 3, channels_last=True)
    assert cpu.winograd_tile(x, wide) == cpu.WINOGRAD_TILES[3]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert cpu.winograd_tile(x, wide) is None  # bf16 would not keep the transforms' precision
    assert cpu.winograd_tile(x.double(), wide) is None
    assert cpu.winograd_tile(x, SameConv1d(128, 128, 8)) is None  # no tile measured for kernel 8
    assert cpu.winograd_tile(torch.randn(2, 64, 20), SameConv1d(64, 128, 3)) is None  # narrow
    assert cpu.winograd_tile(x, SameConv1d(128, 128, 3, dilation=2)) is None
    assert cpu.winograd_tile(x, SameConv1d(128, 128, 3, groups=2)) is None
    monkeypatch.undo()
    for capability, name, expected in (
        ("AVX2", "AMD EPYC 7763", cpu.WINOGRAD_TILES[3]),  # Zen 3: fcn_step_zen3.md
        ("AVX2", "Intel(R) Xeon(R) CPU E5-2680 v4", cpu.WINOGRAD_TILES[3]),
        ("AVX512", "AMD EPYC 9654", cpu.WINOGRAD_TILES[3]),  # Zen 4: fcn_step_zen4.md
        ("AVX512", "Intel(R) Xeon(R) Platinum 8480+", None),  # not measured: oneDNN's
        ("DEFAULT", "AMD EPYC 7763", None),
    ):
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda capability=capability: capability)
        monkeypatch.setattr(torch.cpu, "get_capabilities", lambda name=name: {"cpu_name": name})
        assert cpu.winograd_tile(x, wide) == expected, (capability, name)


def test_transforms_first_made_under_inference_mode_still_serve_a_training() -> None:
    """Regression: the cached transforms were made by whichever call came first; under torch.inference_mode they
    were inference tensors, and every later backward through them failed ("Inference tensors cannot be saved for
    backward")."""
    weight = torch.randn(2, 3, 2, dtype=torch.float64)  # F(4, 2): no other test makes its transforms first
    with torch.inference_mode():
        conv1d_time_major(torch.randn(1, 8, 3, dtype=torch.float64), weight, None, 0, 4)
    x = torch.randn(1, 8, 3, dtype=torch.float64, requires_grad=True)
    conv1d_time_major(x, weight.requires_grad_(), None, 0, 4).sum().backward()
    assert x.grad is not None and weight.grad is not None


def test_an_unbatched_series_takes_oneDNNs_path_as_before(winograd_pays: None) -> None:
    """Regression: a (C, T) input to a wide channels-last SameConv1d raised IndexError once Winograd ran it."""
    conv = SameConv1d(128, 128, 3, channels_last=True)
    x = torch.randn(128, 20)
    torch.testing.assert_close(conv(x), conv(x.unsqueeze(0))[0], rtol=1e-4, atol=1e-5)
