"""Every registered architecture honours the TimeSeriesModel contract; reference sizes and layer facts hold."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from tshub.models import ModelInputError, TimeSeriesModel, base, build_model, cpu, get_architecture, list_architectures
from tshub.models.base import MultiHead
from tshub.models.convnetquake import SameConv1d
from tshub.models.cpu import run_lstm
from tshub.models.magnet import SameMaxPool1d
from tshub.models.winograd import conv1d_time_major

BATCH = 2
# Architectures in which the channel count matters beyond the input layers (MLSTM-FCN's LSTM steps over the
# channels), so an adapted model fed a repeated signal cannot reproduce the source's output exactly.
CHANNELS_ARE_STEPS = {"mlstm_fcn"}


def _inputs(channels: int, length: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(BATCH, channels, length, generator=torch.Generator().manual_seed(seed))
    return x, x.abs().amax(dim=(1, 2)).unsqueeze(1)


def _build(
    arch: str, channels: int, n_outputs: int = 3, *, length: int = 80, stream_max: bool = False, **kwargs
) -> TimeSeriesModel:
    torch.manual_seed(0)
    return build_model(arch, channels, n_outputs, use_stream_max=stream_max, input_length=length, **kwargs)


def _first_linear(module: nn.Module) -> nn.Linear:
    return next(m for m in module.modules() if isinstance(m, nn.Linear))


def _n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("stream_max", [False, True])
@pytest.mark.parametrize("length", [50, 80, 540, 1001])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("arch", list_architectures())
def test_architecture_contract(arch: str, channels: int, length: int, stream_max: bool) -> None:
    model = _build(arch, channels, length=length, stream_max=stream_max)
    x, sm = _inputs(channels, length)
    sm = sm if stream_max else None

    # forward + backward in train mode; dropout off so the check does not depend on which units a mask keeps
    model.train()
    for module in model.modules():
        if isinstance(module, (nn.Dropout, nn.Dropout1d)):
            module.eval()
    features = model.forward_features(x, sm)
    assert features.shape == (BATCH, model.head_input_dim) == (BATCH, _first_linear(model.head).in_features)
    out = model(x, sm)
    assert out.shape == (BATCH, 3)
    loss = (out - torch.randn(BATCH, 3)).pow(2).mean()
    regularization = model.regularization_loss()
    (loss if regularization is None else loss + regularization).backward()
    # one channel = one LSTM step from a zero state: MLSTM-FCN's recurrent kernel rightly gets no gradient
    exempt = {"lstm.weight_hh_l0"} if arch in CHANNELS_ARE_STEPS and channels == 1 else set()
    no_gradient = [
        n
        for n, p in model.named_parameters()
        if n not in exempt and (p.grad is None or not torch.isfinite(p.grad).all() or not p.grad.abs().sum() > 0)
    ]
    assert not no_gradient, f"parameters without a useful gradient: {no_gradient}"

    # a fresh single head; the backbone is untouched
    model.eval()
    backbone_before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    model.reset_head(5)
    assert model(x, sm).shape == (BATCH, 5) and model.config()["n_outputs"] == 5
    assert all(torch.equal(v, model.backbone.state_dict()[k]) for k, v in backbone_before.items())

    # channel adaptation 1 → 3 / 3 → 1: the same signal on every channel gives the source model's output
    target = 3 if channels == 1 else 1
    signal = x[:, :1]
    with torch.no_grad():
        reference = model(signal.expand(-1, channels, -1), sm)
        model.adapt_input_channels(target)
        adapted = model(signal.expand(-1, target, -1).contiguous(), sm)
    assert model.config()["in_channels"] == target
    assert all(dict(model.named_parameters())[n].shape[1] == target for n in model.input_parameter_names())
    assert adapted.shape == (BATCH, 5) and torch.isfinite(adapted).all()
    if arch not in CHANNELS_ARE_STEPS:
        torch.testing.assert_close(adapted, reference, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "arch, channels, n_outputs, stream_max, length, expected",
    [
        # keras-tcn 3.1.0, Otović config: block0 conv1 3·24·8+24 = 600, conv2 24·24·8+24 = 4632, 1×1 shortcut 3·24+24 = 96;
        # blocks 1–8: 2·4632 = 9264 each → TCN 600+4632+96+8·9264 = 79,440; Dense (24+1)·1+1 = 26 → 79,466.
        ("tcn", 3, 1, True, 540, 79_466),
        # FCN, 1 channel, k = 2: conv 1·128·8+128 = 1152, BN γβ 256, conv 128·256·5+256 = 164,096, BN 512,
        # conv 256·128·3+128 = 98,432, BN 256 → 264,704; Dense 128·k+k = 258 → 264,962 (Keras adds 1,024 BN moving stats).
        ("fcn", 1, 2, False, 80, 264_962),
        # ConvNetQuake LEN-DB-like (3 ch, 540, stream_max, 1 out): conv1 3·32·3+32 = 320, conv2–9 8·(32·32·3+32) = 24,832;
        # 540 → ceil-halving ×9 → 2, flat 2·32+1 = 65; Dense1 65·65+65 = 4,290; Dense2 65+1 = 66 → 29,508.
        ("convnetquake", 3, 1, True, 540, 29_508),
        # MagNet (3 ch, stream_max, 1 out): conv1 3·64·3+64 = 640, conv2 64·32·3+32 = 6,176; BiLSTM(100) on 32 features as
        # CuDNNLSTM (tstl's --cudnn-lstm, two bias vectors like PyTorch) 2·(4·100·(32+100)+8·100) = 107,200;
        # Dense (200+1)+1 = 202 → 114,218 (a plain Keras LSTM has one bias: 800 fewer).
        ("magnet", 3, 1, True, 540, 114_218),
        # MLSTM-FCN (3 ch, 540, stream_max, 1 out): LSTM(8) over 540 features 4·8·(540+8)+2·4·8 = 17,600 (Keras LSTM has one
        # bias: 17,568); conv1 3·128·8+128 = 3,200, BN 256, SE 128·8+8·128 = 2,048; conv2 128·256·5+256 = 164,096,
        # BN 512, SE 256·16+16·256 = 8,192; conv3 256·128·3+128 = 98,432, BN 256; Dense (8+128+1)+1 = 138 → 294,730.
        ("mlstm_fcn", 3, 1, True, 540, 294_730),
        # ConvTimeNet (our design), 1 channel, 2 classes: block0 branches 32·1·(8+16+32+64) = 3,840, BN 256, shortcut
        # 1·128 + BN 256; blocks 1–3 each bottleneck 128·32 = 4,096 + branches 32·32·120 = 122,880 + BN 256 = 127,232;
        # Dense 128·2+2 = 258 → 4,480 + 3·127,232 + 258 = 386,434.
        ("convtimenet", 1, 2, False, 80, 386_434),
    ],
)
def test_reference_parameter_counts(
    arch: str, channels: int, n_outputs: int, stream_max: bool, length: int, expected: int
) -> None:
    assert _n_parameters(_build(arch, channels, n_outputs, length=length, stream_max=stream_max)) == expected


@pytest.mark.parametrize(
    "arch, transferred",
    [
        ("convnetquake", {f"conv{i}" for i in range(1, 10)}),  # tstl Conv1..Conv9
        ("magnet", {"conv1", "conv2"}),  # tstl conv1d, conv1d_1; the BiLSTM is re-initialised
        ("mlstm_fcn", {"conv1", "conv2", "conv3"}),  # tstl conv1d_1..3; BN, SE and LSTM are re-initialised
    ],
)
def test_backbone_is_what_tstl_transfers(arch: str, transferred: set[str]) -> None:
    model = _build(arch, 3, length=80)
    assert {name.split(".")[0] for name in model.backbone.state_dict()} == transferred
    assert set(model.backbone.state_dict()) == {f"{m}.{p}" for m in transferred for p in ("weight", "bias")}


def test_tcn_backbone_is_everything_but_the_output_layer() -> None:
    model = _build("tcn", 3, stream_max=True)
    outside = {n for n, _ in model.named_parameters() if not n.startswith("backbone.")}
    assert outside == {"head.weight", "head.bias"}


@pytest.mark.parametrize("kernel", [2, 3, 5, 8, 64])
def test_same_padding_is_torchs_padding_same_bit_for_bit(kernel: int) -> None:
    torch.manual_seed(kernel)
    reference = nn.Conv1d(3, 4, kernel, padding="same")
    conv = SameConv1d(3, 4, kernel)
    conv.load_state_dict(reference.state_dict())  # same parameter names and shapes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's own warning about even kernels
        for length in (1, 7, 150):
            x = torch.randn(5, 3, length)
            assert torch.equal(conv(x), reference(x))


def test_first_forward_prints_no_padding_warning() -> None:
    """torch warns once per process on padding='same' with an even kernel: check in a fresh process."""
    code = (
        "import torch; from tshub.models import build_model, list_architectures\n"
        "for arch in list_architectures():\n"
        "    build_model(arch, 2, 3, input_length=64).eval()(torch.randn(4, 2, 64))\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-c", code], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "padding='same'" not in done.stderr, done.stderr


def test_same_stride2_padding_follows_tensorflow() -> None:
    conv = SameConv1d(1, 1, 3, stride=2, bias=False)
    nn.init.zeros_(conv.weight)
    with torch.no_grad():
        conv.weight[0, 0, 0] = 1.0  # output t = input at 2t − left pad
    for length in range(1, 21):
        x = torch.arange(1.0, length + 1).reshape(1, 1, length)
        out = conv(x)[0, 0]
        assert out.shape[0] == math.ceil(length / 2)
        # TF 'SAME': total pad 1 (even T: all on the right) or 2 (odd T: one each side)
        first = 1.0 if length % 2 == 0 else 0.0
        assert out[0].item() == first


@pytest.mark.parametrize("length, flattened", [(6000, 12), (8000, 16), (540, 2), (1001, 2), (80, 1), (50, 1)])
def test_convnetquake_flattened_size(length: int, flattened: int) -> None:
    model = _build("convnetquake", 3, length=length)
    assert model.feature_dim == 32 * flattened
    sizes, h = [], torch.zeros(1, 3, length)
    for layer in model.backbone:
        h = layer(h)
        if isinstance(layer, nn.Conv1d):
            sizes.append(h.shape[-1])
    expected, t = [], length
    for _ in range(9):
        t = math.ceil(t / 2)
        expected.append(t)
    assert sizes == expected and sizes[-1] == flattened


def test_convnetquake_regularization_is_keras_l2_on_conv_kernels() -> None:
    model = _build("convnetquake", 3, length=80)
    kernels = [p for n, p in model.named_parameters() if n.startswith("backbone.conv") and n.endswith(".weight")]
    assert len(kernels) == 9
    expected = 1e-3 * sum(float((k.detach().double() ** 2).sum()) for k in kernels)
    assert model.regularization_loss().item() == pytest.approx(expected, rel=1e-5)
    assert _build("convnetquake", 3, length=80, l2=0.0).regularization_loss() is None


@pytest.mark.parametrize(
    "init, std, bound",
    [
        ("glorot_uniform", math.sqrt(2 / (96 + 96)), math.sqrt(6 / (96 + 96))),
        ("glorot_normal", math.sqrt(2 / (96 + 96)), 2 * math.sqrt(2 / (96 + 96)) / 0.8796),
        ("he_normal", math.sqrt(2 / 96), 2 * math.sqrt(2 / 96) / 0.8796),
    ],
)
def test_convnetquake_init_variants(init: str, std: float, bound: float) -> None:
    weights = torch.cat(
        [
            p.flatten()
            for n, p in _build("convnetquake", 3, length=80, init=init).named_parameters()
            if n.startswith("backbone.conv") and n.endswith(".weight") and n != "backbone.conv1.weight"
        ]
    )
    assert weights.std().item() == pytest.approx(std, rel=0.05)  # 24,576 samples: sampling error ≈ 0.5 %
    assert weights.abs().max().item() <= bound + 1e-6


def test_magnet_pooling_matches_keras_same() -> None:
    x = torch.arange(750.0).reshape(1, 1, 750)
    out = SameMaxPool1d(4)(x)[0, 0]
    # TF: 188 windows, total pad 2 split 1/1, so windows start at −1: [−1..2], [3..6], ..., [747..750]
    expected = torch.tensor([min(4 * i + 2, 749) for i in range(188)], dtype=torch.float32)
    torch.testing.assert_close(out, expected)
    model = _build("magnet", 3)
    assert model.backbone(torch.zeros(1, 3, 3000)).shape == (1, 32, 188)  # 3000 → 750 → 188


def test_magnet_dropout_is_deterministic_unless_mc() -> None:
    x, sm = _inputs(3, 200)
    model = _build("magnet", 3, stream_max=True).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x, sm), model(x, sm), rtol=0, atol=0)
    mc = _build("magnet", 3, stream_max=True, mc_dropout=True).eval()
    with torch.no_grad():
        assert not torch.equal(mc(x, sm), mc(x, sm))


def test_tcn_is_causal_and_sees_the_whole_series() -> None:
    model = _build("tcn", 3).eval()
    x, _ = _inputs(3, 300)
    changed = x.clone()
    changed[:, :, 200:] += 1.0
    with torch.no_grad():
        before, after = model.backbone(x), model.backbone(changed)
    torch.testing.assert_close(after[:, :, :200], before[:, :, :200], rtol=0, atol=0)
    assert (after[:, :, 200] - before[:, :, 200]).abs().max() > 1e-4
    # receptive field 7155 > 1001: the last step (the features) still depends on the first sample
    x, _ = _inputs(3, 1001)
    first = x.clone()
    first[:, :, 0] += 1.0
    with torch.no_grad():
        assert (model.forward_features(first) - model.forward_features(x)).abs().max() > 0


def test_tcn_refuses_in_place_adaptation_across_the_identity_shortcut() -> None:
    model = _build("tcn", 24)
    assert model.input_parameter_names() == {"backbone.block0.conv1.weight"}
    with pytest.raises(ModelInputError, match="shortcut"):
        model.adapt_input_channels(3)


def test_convtimenet_multi_head() -> None:
    model = _build("convtimenet", 1, length=60)
    model.set_heads({"GunPoint": 2, "Coffee": 5})
    x, _ = _inputs(1, 60)
    assert model(x, head="GunPoint").shape == (BATCH, 2) and model(x, head="Coffee").shape == (BATCH, 5)
    assert model.config()["heads"] == {"GunPoint": 2, "Coffee": 5}
    with pytest.raises(ModelInputError, match="head"):
        model(x)
    model.reset_head(4)
    assert model(x).shape == (BATCH, 4) and model.config()["heads"] is None


@pytest.mark.parametrize("arch", list_architectures())
def test_stream_max_must_hold_one_value_per_series(arch: str) -> None:
    """Regression: stream_max was reshaped to (-1, 1) whatever its shape, so a (2, 2) tensor for a batch of four
    was taken silently and other shapes failed inside torch.cat with a message naming neither stream_max nor the
    expected shape."""
    model = _build(arch, 3, stream_max=True).eval()
    x, sm = _inputs(3, 80)
    with torch.no_grad():
        torch.testing.assert_close(model(x, sm.flatten()), model(x, sm))  # (batch,) reads as (batch, 1)
        batch_of_four = torch.cat([x, x])
        for wrong, data in [(sm.reshape(2, 1).repeat(1, 2), batch_of_four), (torch.ones(1), x), (sm.repeat(1, 3), x)]:
            with pytest.raises(ModelInputError, match=r"stream_max.*\(batch, 1\)"):
                model(data, wrong)


@pytest.mark.parametrize("arch", list_architectures())
def test_a_series_without_time_steps_is_refused_clearly(arch: str) -> None:
    model = _build(arch, 1, length=1).eval()
    with torch.no_grad():
        assert model(torch.randn(BATCH, 1, 1)).shape == (BATCH, 3)  # one time step is enough
        with pytest.raises(ModelInputError, match="no time step"):
            model(torch.randn(BATCH, 1, 0))


@pytest.mark.parametrize("arch", [a for a in list_architectures() if get_architecture(a).length_bound])
def test_length_bound_models_refuse_an_input_length_below_one(arch: str) -> None:
    """Regression: ConvNetQuake divided by zero, MLSTM-FCN failed in nn.LSTM without naming input_length."""
    with pytest.raises(ValueError, match="input_length"):
        build_model(arch, 1, 2, input_length=0)


@pytest.mark.parametrize("arch", list_architectures())
def test_adapting_to_no_input_channel_is_refused(arch: str) -> None:
    """Regression: adapt_input_channels(0) divided the kernels by zero into empty ones and set in_channels = 0."""
    model = _build(arch, 3)
    with pytest.raises(ModelInputError, match="at least one"):
        model.adapt_input_channels(0)
    assert model.in_channels == 3


def test_mlstm_fcn_refuses_a_squeeze_ratio_that_leaves_no_unit() -> None:
    """Regression: 128 filters // se_ratio 256 = 0 units failed in the initialiser with an IndexError."""
    with pytest.raises(ValueError, match="se_ratio"):
        build_model("mlstm_fcn", 1, 2, input_length=50, se_ratio=256)


def test_tcn_refuses_an_empty_dilation_list() -> None:
    """Regression: with no residual block the features were the raw channels and the head failed at the first
    forward pass with a shape mismatch."""
    with pytest.raises(ValueError, match="dilations"):
        build_model("tcn", 1, 2, dilations=())


def test_models_are_a_leaf_importing_only_the_hub_mixin():
    """At module level the models import no other tshub package than ``tshub.hub.mixin`` (which imports no tshub
    module outside type checking), and the hub needs only the models' registry (which imports no model); what
    the models delegate to (training, the rest of the hub) is imported when a method is called."""
    import ast
    from pathlib import Path

    import tshub

    root = Path(tshub.__file__).parent

    def module_level_imports(path: Path) -> set[str]:
        names = set()
        for node in ast.parse(path.read_text()).body:  # module level only; `if TYPE_CHECKING:` blocks are skipped
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        return {name for name in names if name.split(".")[0] == "tshub"}

    allowed = ("tshub.models", "tshub.hub.mixin", "tshub.naming")
    for path in sorted((root / "models").glob("*.py")):
        outside = {name for name in module_level_imports(path) if not name.startswith(allowed)}
        assert not outside, f"{path.name} imports {sorted(outside)} at module level"
    assert module_level_imports(root / "hub" / "mixin.py") == set()
    assert module_level_imports(root / "models" / "registry.py") == {"tshub.naming"}
    for path in sorted((root / "hub").glob("*.py")):
        models = {name for name in module_level_imports(path) if name.startswith("tshub.models")}
        assert models <= {"tshub.models.registry"}, f"hub/{path.name} imports {sorted(models)} at module level"


@pytest.mark.parametrize("first", ["tshub.models", "tshub.hub"])
def test_models_and_hub_import_in_either_order(first):
    """Without tshub/__init__ choosing the order (it imports everything), either package can be imported first."""
    import tshub

    code = (
        "import sys, types\n"
        f"package = types.ModuleType('tshub'); package.__path__ = {list(tshub.__path__)!r}\n"
        "sys.modules['tshub'] = package\n"
        f"import {first}\n"
        "import tshub.hub, tshub.models, tshub.training\n"
        "assert tshub.hub.load_pretrained and tshub.models.build_model('fcn', 1, 2).save_pretrained\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def _train_mode_pass(model: TimeSeriesModel, head: str, seed: int, scale: float) -> None:
    x, _ = _inputs(1, 60, seed=seed)
    with torch.no_grad():
        model.train()(scale * x + scale, head=head)
    model.eval()


def test_each_head_normalises_by_its_own_datasets_batchnorm_statistics() -> None:
    """Every batch of a multi-head pretraining comes from one dataset and is normalised by that dataset's batch
    statistics, so each head keeps running statistics of its own: training batches of one dataset leave another
    head's eval-mode outputs and the shared statistics unchanged, and a head's outputs are those of the single-head
    network whose BatchNorms hold that head's statistics."""
    torch.manual_seed(0)
    model = _build("convtimenet", 1, length=60)
    model.set_heads({"GunPoint": 2, "Coffee": 5})
    _train_mode_pass(model, "Coffee", seed=1, scale=1.0)
    x, _ = _inputs(1, 60, seed=3)
    with torch.no_grad():
        coffee, shared = model(x, head="Coffee"), [b.clone() for n, b in model.backbone.named_buffers()]
        _train_mode_pass(model, "GunPoint", seed=2, scale=5.0)
        assert torch.equal(model(x, head="Coffee"), coffee)
        assert all(
            torch.equal(a, b) for a, b in zip(shared, model.backbone.buffers(), strict=True) if a.is_floating_point()
        )
        single = _build("convtimenet", 1, length=60)
        single.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("head.")}, strict=False)
        norms = [m for m in single.backbone.modules() if isinstance(m, nn.BatchNorm1d)]
        stats = model.head.statistics["GunPoint"]
        for i, norm in enumerate(norms):
            norm.running_mean.copy_(getattr(stats, f"mean_{i}"))
            norm.running_var.copy_(getattr(stats, f"var_{i}"))
        single.head = model.head.heads["GunPoint"]
        assert torch.equal(model(x, head="GunPoint"), single.eval()(x))
        assert not torch.equal(stats.mean_0, model.head.statistics["Coffee"].mean_0)


def test_pooled_statistics_are_those_of_every_heads_data_together() -> None:
    """What a forward pass without a head normalises by (a fine-tune's start, a transferability score): the mean and
    variance of all heads' data pooled, from each head's mean and variance and its share of the data."""
    torch.manual_seed(0)
    model = _build("convtimenet", 1, length=60)
    model.set_heads({"A": 2, "B": 3})
    data = {"A": torch.randn(300, 128) * 2 + 1, "B": torch.randn(100, 128) * 0.5 - 3}
    for name, values in data.items():
        for stats_name, _ in model.head.statistics[name].named_buffers():
            kind, _ = stats_name.split("_")
            getattr(model.head.statistics[name], stats_name).copy_(
                values.mean(0) if kind == "mean" else values.var(0, unbiased=False)
            )
    model.head.pool_statistics(model.backbone, {"A": 300.0, "B": 100.0})
    pooled = torch.cat(list(data.values()))
    for norm in [m for m in model.backbone.modules() if isinstance(m, nn.BatchNorm1d)]:
        torch.testing.assert_close(norm.running_mean, pooled.mean(0), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(norm.running_var, pooled.var(0, unbiased=False), rtol=1e-5, atol=1e-5)


def test_a_heads_statistics_are_estimated_under_the_current_weights_and_nothing_else_changes() -> None:
    """estimate_head_statistics: one batch of ``X`` → the head's statistics are that batch's BatchNorm input mean
    and (unbiased) variance; the weights, the shared statistics and counters, the other heads' statistics and the
    model's mode are as before."""
    from tshub.training.multihead import estimate_head_statistics

    torch.manual_seed(0)
    model = _build("convtimenet", 1, length=60)
    model.set_heads({"GunPoint": 2, "Coffee": 5})
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("head.statistics.GunPoint.")}
    x, _ = _inputs(1, 60, seed=4)
    first_norm = model.backbone.block0.shortcut[1]
    seen = []
    handle = first_norm.register_forward_hook(lambda module, args, out: seen.append(args[0].detach()))
    estimate_head_statistics(model, "GunPoint", 3 * x + 1, batch_size=len(x))
    handle.remove()
    assert model.training and len(seen) == 1
    index = [m for m in model.backbone.modules() if isinstance(m, nn.BatchNorm1d)].index(first_norm)
    stats = model.head.statistics["GunPoint"]
    torch.testing.assert_close(getattr(stats, f"mean_{index}"), seen[0].mean(dim=(0, 2)))
    torch.testing.assert_close(getattr(stats, f"var_{index}"), seen[0].transpose(0, 1).flatten(1).var(dim=1))
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())
    with pytest.raises(ModelInputError, match="no head"):
        estimate_head_statistics(model, "Adiac", x, batch_size=4)


def test_heads_with_statistics_refuse_batchnorms_outside_the_backbone() -> None:
    """MLSTM-FCN's BatchNorms sit beside its backbone: per-head statistics would leave them shared, every head
    evaluated with the last dataset's statistics. Refused, with what to do; without statistics it is allowed."""
    model = _build("mlstm_fcn", 1, length=24)
    with pytest.raises(
        ValueError,
        match=r"mlstm_fcn keeps BatchNorms outside its backbone \(norms\.0, norms\.1, norms\.2\).*statistics=False",
    ):
        model.set_heads({"A": 2, "B": 3})
    model.set_heads({"A": 2, "B": 3}, statistics=False)
    assert set(model.head.heads) == {"A", "B"} and model.head.statistics is None


def test_a_multi_head_model_predicts_through_the_head_named() -> None:
    """``predict(X, head=…)`` and ``predict_proba(X, head=…)``: that head's outputs, its own labels and BatchNorm
    statistics; without a head the error says how to name one."""
    from tshub.data.preprocess import ZNormalize
    from tshub.models.base import ModelInputError
    from tshub.training.multihead import HeadView

    model = _build("convtimenet", 1, length=60).eval()
    model.set_heads({"GunPoint": 2, "Coffee": 3})
    model.task, model.classes, model.preprocessor = "classification", None, ZNormalize()
    model.meta = {"head_classes": {"GunPoint": ["1", "2"], "Coffee": ["a", "b", "c"]}}
    X = np.random.default_rng(0).standard_normal((5, 1, 60)).astype(np.float32)
    with torch.no_grad():
        logits = HeadView(model, "Coffee")(torch.from_numpy(ZNormalize().transform(X)[0]))
    np.testing.assert_allclose(model.predict_proba(X, head="Coffee"), torch.softmax(logits, 1).numpy(), rtol=1e-5)
    assert list(model.predict(X, head="Coffee")) == [["a", "b", "c"][i] for i in logits.argmax(1).tolist()]
    assert model.predict(X, head="GunPoint").shape == (5,) and model.predict(X, head="Coffee", codes=True).max() < 3
    with pytest.raises(ModelInputError, match=r"predict\(X, head=<name>\)"):
        model.predict(X)


def test_predicting_through_a_head_leaves_the_model_in_the_mode_it_was() -> None:
    """A later plain forward pass must not be in training mode (it would overwrite the head's statistics)."""
    from tshub.data.preprocess import ZNormalize

    model = _build("fcn", 1, length=40).eval()
    model.set_heads({"A": 2, "B": 3})
    model.task, model.classes, model.preprocessor = "classification", None, ZNormalize()
    model.predict(np.random.default_rng(0).standard_normal((4, 1, 40)).astype(np.float32), head="A")
    assert not model.training and not any(m.training for m in model.modules())


def _classifier(arch: str = "fcn", channels: int = 3, length: int = 64, **kwargs) -> TimeSeriesModel:
    """A tiny untrained classifier that predicts raw series through per-series z-normalisation."""
    from tshub.data.preprocess import ZNormalize

    model = _build(arch, channels, 2, length=length, **kwargs).eval()
    model.task, model.classes, model.preprocessor = "classification", ["a", "b"], ZNormalize()
    return model


def test_predict_takes_a_list_of_series_of_unequal_lengths_and_keeps_their_order() -> None:
    """Regression: a list of series of unequal lengths failed in numpy ("inhomogeneous shape") for a model that
    takes any length; each series is now predicted at its own length, in the order given. A length-bound model
    and series of other channel counts are refused saying so."""
    from tshub.data import DatasetError

    rng = np.random.default_rng(0)
    series = [rng.standard_normal((3, length)).astype(np.float32) for length in (50, 64, 30, 64, 50)]
    model = _classifier(filters=(4, 8, 4))
    one_by_one = np.concatenate([model.predict_proba(s[None]) for s in series])
    np.testing.assert_allclose(model.predict_proba(series), one_by_one, rtol=1e-5)
    assert list(model.predict(tuple(series))) == [["a", "b"][i] for i in one_by_one.argmax(1)]
    with pytest.raises(DatasetError, match=r"all with the same channels; got shapes \[\(2, 50\), \(3, 64\)\]"):
        model.predict([series[1], series[0][:2]])
    with pytest.raises(ModelInputError, match="length-bound layers built for length 64, got 30"):
        _classifier("convnetquake").predict(series)


def test_channels_last_series_are_told_to_transpose_not_to_adapt_the_model() -> None:
    """Regression: (n, length, channels) series for a 3-channel model were told to call adapt_input_channels(c);
    they need X.transpose(0, 2, 1). Before a preprocessing whose fitted shape would refuse them first too."""
    from tshub.data.preprocess import MinMaxMask

    X = np.random.default_rng(0).standard_normal((4, 3, 64)).astype(np.float32)
    model = _classifier(filters=(4, 8, 4))
    channels_last = r"shape \(4, 64, 3\), which look channels-last .*X\.transpose\(0, 2, 1\)"
    with pytest.raises(ModelInputError, match=channels_last):
        model.predict(X.transpose(0, 2, 1))
    with pytest.raises(ModelInputError, match=channels_last), torch.no_grad():
        model(torch.from_numpy(X.transpose(0, 2, 1).copy()))
    model.preprocessor = MinMaxMask().fit(X)
    with pytest.raises(ModelInputError, match=channels_last):
        model.predict(X.transpose(0, 2, 1))
    with pytest.raises(ModelInputError, match=r"got 2: fine-tune it .*`tshub finetune`.*adapt_input_channels\(2\)"):
        model.predict(X[:, :2])  # another channel count, not channels-last
    assert model.predict(X).shape == (4,)


def test_predict_on_nan_padded_series_says_what_its_caller_can_do() -> None:
    """Regression: NaN-padded series were told to pass variable_length= / missing=, options predict does not
    take; the message now names what to call before predict, and that call works."""
    from tshub.data import DatasetError
    from tshub.data.readers import regularize

    X = np.random.default_rng(0).standard_normal((4, 3, 64))
    X[1, :, 50:] = np.nan
    model = _classifier(filters=(4, 8, 4))
    with pytest.raises(
        DatasetError, match=r"1 of 4 series .*series 1, channel 0, step 50\); predict takes complete"
    ) as error:
        model.predict(X)
    message = str(error.value)
    assert "regularize(X, variable_length=" in message and "Dataset.from_arrays and from_file take" not in message
    with pytest.raises(DatasetError, match=r"1 of 2 series .*series 1, channel 0, step 50\)"):  # its place in the list
        model.predict([X[0, :, :30], X[1]])
    assert model.predict(regularize(X, variable_length="pad", missing="interpolate")[0]).shape == (4,)


def test_a_misspelt_head_gets_a_did_you_mean() -> None:
    """Regression: an unknown head listed all 91 of UCR/convtimenet's heads and left the reader to find theirs."""
    heads = MultiHead({name: nn.Linear(2, 2) for name in ("GunPoint", "GunPointAgeSpan", "Coffee")})
    with pytest.raises(ModelInputError, match=r"no head 'gunpoint'; did you mean 'GunPoint'"):
        heads.check("gunpoint")
    with pytest.raises(ModelInputError, match=r"no head 'Wafer'; heads: \['Coffee'"):
        heads.check("Wafer")


def _channels_last(x: torch.Tensor) -> bool:
    """Whether an (N, C, T) tensor has C as its fastest axis."""
    return x.transpose(1, 2).is_contiguous()


@pytest.fixture
def channels_last_pays(monkeypatch: pytest.MonkeyPatch) -> None:
    """Channels-last convolutions run on any machine, not only where they pay (``tshub.models.cpu``)."""
    monkeypatch.setattr(cpu, "channels_last_pays", lambda device: True)


@pytest.mark.parametrize("kernel, dilation", [(2, 1), (3, 1), (8, 1), (5, 2), (64, 1)])
def test_channels_last_convolution_equals_the_plain_one(kernel: int, dilation: int, channels_last_pays: None) -> None:
    torch.manual_seed(kernel)
    plain = SameConv1d(3, 6, kernel, dilation=dilation)
    conv = SameConv1d(3, 6, kernel, dilation=dilation, channels_last=True)
    conv.load_state_dict(plain.state_dict())  # the same parameters: checkpoints load into either
    seen = []
    conv.register_forward_hook(lambda module, inputs, output: seen.append(output.shape))
    for length in (1, 7, 150):
        x = torch.randn(4, 3, length)
        out = conv(x)
        assert out.shape == plain(x).shape and _channels_last(out)
        torch.testing.assert_close(out, plain(x), rtol=1e-5, atol=1e-6)
        cl = x.transpose(1, 2).contiguous().transpose(1, 2)  # channels-last input: the path a block feeds
        torch.testing.assert_close(conv(cl), plain(x), rtol=1e-5, atol=1e-6)
    assert len(seen) == 6  # a module call, so forward hooks (feature extraction, FLOP counters) see it


def test_channels_last_convolution_refuses_strides() -> None:
    with pytest.raises(ValueError, match="stride-1"):
        SameConv1d(1, 1, 3, stride=2, channels_last=True)


def test_channels_last_batch_norm_matches_batch_norm_statistics_and_gradients(channels_last_pays: None) -> None:
    """BatchNorm on the (N·T, C) matrix: same outputs, running statistics, counter and gradients as on (N, C, T)."""
    from tshub.models.base import batch_norm, on_channels_last_matrix

    torch.manual_seed(0)
    plain, matrix = batch_norm(5), batch_norm(5)
    x = (3 * torch.randn(4, 5, 30) + 1).requires_grad_()
    cl = x.transpose(1, 2).contiguous().transpose(1, 2).detach().requires_grad_()
    for _ in range(3):
        expected, got = plain(x), on_channels_last_matrix(matrix, cl)
        assert _channels_last(got)
        torch.testing.assert_close(got, expected)
    expected.square().sum().backward()
    got.square().sum().backward()
    torch.testing.assert_close(cl.grad, x.grad, rtol=1e-4, atol=1e-5)
    for name, buffer in plain.state_dict().items():
        torch.testing.assert_close(matrix.state_dict()[name], buffer)
    plain.eval(), matrix.eval()
    torch.testing.assert_close(on_channels_last_matrix(matrix, cl), plain(x))


@pytest.mark.parametrize("arch", ["fcn", "mlstm_fcn"])
@pytest.mark.parametrize("bf16", [False, True])
def test_channels_last_blocks_compute_what_plain_layers_compute(
    arch: str, bf16: bool, monkeypatch: pytest.MonkeyPatch, channels_last_pays: None
) -> None:
    """Architectures whose conv → BN → ReLU blocks run channels-last: the logits, loss gradients and BatchNorm
    statistics of the same layers run on plain (N, C, T) tensors (float32 to rounding; bf16 to its precision)."""
    module = sys.modules[type(_build(arch, 2)).__module__]
    outputs = []
    for plain in (False, True):
        net = _build(arch, 2, length=60).train()  # same seed: same weights
        if plain:
            monkeypatch.setattr(module, "on_channels_last_matrix", lambda layer, x: layer(x))
            for conv in net.modules():
                if isinstance(conv, SameConv1d):
                    conv.channels_last = False
        x, _ = _inputs(2, 60)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = net(x)
        logits.float().logsumexp(dim=1).sum().backward()
        outputs.append((logits.float(), {n: p.grad for n, p in net.named_parameters()}, net.state_dict()))
    (got, got_grads, got_state), (expected, expected_grads, expected_state) = outputs
    tol = {"rtol": 2e-2, "atol": 2e-2} if bf16 else {"rtol": 1e-4, "atol": 1e-5}
    torch.testing.assert_close(got, expected, **tol)
    for name, grad in expected_grads.items():
        torch.testing.assert_close(got_grads[name], grad, **tol)
    assert got_state.keys() == expected_state.keys()
    for name, value in expected_state.items():
        torch.testing.assert_close(got_state[name], value, **tol)


INTEL_AVX512 = ("AVX512", "Intel(R) Xeon(R) Platinum 8480+")
AMD_AVX512 = ("AVX512", "AMD EPYC 9654")  # Zen 4
AMD_AVX2 = ("AVX2", "AMD EPYC 7763")  # Zen 3


def pretend_cpu(monkeypatch: pytest.MonkeyPatch, capability: str, name: str) -> None:
    """The kernels ATen dispatches to (``capability``) and the CPU's model name, as ``tshub.models.cpu`` reads them."""
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"cpu_name": name})


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("machine", [INTEL_AVX512, AMD_AVX512, AMD_AVX2])
def test_fcn_activations_are_laid_out_as_the_cpu_convolves_fastest(
    channels: int, machine: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every block hands the next a channels-last tensor, so no convolution converts its input: with Intel's AVX-512
    all of them are oneDNN's; on AMD's AVX2 (Zen 3), where oneDNN's channels-last convolutions made the float32 step
    slower than plain tensors (0.85x, bench/results/fcn_step_zen3.md), and on AMD's AVX-512 (Zen 4, where the step
    ran 1.39x faster so: fcn_step_zen4.md), the wide ones run as Winograd's and only the first (1 or 3 → 128
    channels) is oneDNN's (regression: it computed on plain tensors, the next block's BatchNorm and ReLU ran on them
    and Winograd's gather transposed them). Same values either way."""
    pretend_cpu(monkeypatch, *machine)
    winograd_calls = []
    monkeypatch.setattr(
        base, "conv1d_time_major", lambda *args: winograd_calls.append(args) or conv1d_time_major(*args)
    )
    model = _build("fcn", channels, length=40)
    h, _ = _inputs(channels, 40)
    outputs = []
    for block in model.backbone:
        h = block(h)
        assert _channels_last(h) and not h.is_contiguous()
        outputs.append(h)
    assert len(winograd_calls) == (0 if machine == INTEL_AVX512 else 2)
    pretend_cpu(monkeypatch, *(AMD_AVX2 if machine == INTEL_AVX512 else INTEL_AVX512))
    h, _ = _inputs(channels, 40)
    for block, expected in zip(model.backbone, outputs):
        h = block(h)
        torch.testing.assert_close(h, expected, rtol=1e-4, atol=1e-5)


def test_mlstm_fcn_convolutions_all_compute_channels_last_on_avx2(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLSTM-FCN's convolutions follow the FCN's rule (its step 1.14x faster than with the first one plain,
    bench/results/fcn_step_zen3_mlstm_fcn.md): every output channels-last, the wide two as Winograd's, the logits
    those of Intel's AVX-512 layout (all oneDNN's)."""
    winograd_calls = []
    monkeypatch.setattr(
        base, "conv1d_time_major", lambda *args: winograd_calls.append(args) or conv1d_time_major(*args)
    )
    model = _build("mlstm_fcn", 2, length=40).eval()
    x, _ = _inputs(2, 40)
    logits = {}
    for machine in (AMD_AVX2, INTEL_AVX512):
        pretend_cpu(monkeypatch, *machine)
        outputs = []
        hooks = [
            conv.register_forward_hook(lambda module, inputs, output, outputs=outputs: outputs.append(output))
            for conv in model.modules()
            if isinstance(conv, SameConv1d)
        ]
        logits[machine] = model(x)
        for hook in hooks:
            hook.remove()
        assert len(outputs) == 3 and all(_channels_last(h) for h in outputs)
    assert len(winograd_calls) == 2
    torch.testing.assert_close(logits[AMD_AVX2], logits[INTEL_AVX512], rtol=1e-4, atol=1e-5)


def test_on_avx2_the_fcn_computes_on_plain_tensors_where_winograd_does_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under bf16 autocast (and in float64) no convolution runs as Winograd's, and oneDNN's channels-last ones were
    slower there: every block computes on plain (N, C, T) tensors."""
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    model = _build("fcn", 1, length=40)
    for dtype, bf16 in ((torch.float32, True), (torch.float64, False)):
        h = _inputs(1, 40)[0].to(dtype)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for block in model.to(dtype).backbone:
                h = block(h)
                assert h.is_contiguous()


@pytest.mark.parametrize("arch", ["mlstm_fcn", "magnet"])
def test_lstm_models_train_under_bf16_autocast_on_a_cpu_without_avx512(
    arch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: on a Zen 3 EPYC (AVX2) oneDNN builds no bfloat16 LSTM, so MLSTM-FCN and MagNet under bf16
    autocast failed with "could not create a primitive descriptor for the LSTM forward propagation primitive".
    There the LSTM runs in float32 and the rest of the model keeps its autocast."""
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    net = _build(arch, 2, length=64).train()
    x, _ = _inputs(2, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = net(x)
        lstm_out, _ = run_lstm(nn.LSTM(3, 4, batch_first=True), torch.randn(2, 5, 3))
    assert lstm_out.dtype == torch.float32
    logits.float().logsumexp(dim=1).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_an_unknown_architecture_is_refused_in_plain_words_with_a_suggestion() -> None:
    """Regression: a KeyError, whose message Python prints inside quotes ('"unknown architecture ..."'), for a
    user's typo in train_from_scratch("resnet", ...); the error stays a KeyError for code that catches one."""
    with pytest.raises(ValueError, match="unknown architecture 'fnc'") as caught:
        build_model("fnc", 1, 2)
    assert isinstance(caught.value, KeyError)
    assert str(caught.value).startswith("unknown architecture 'fnc'; registered: ") and "Did you mean 'fcn'?" in str(
        caught.value
    )


@pytest.mark.parametrize("padding_mode", ["reflect", "replicate", "circular"])
def test_same_conv_refuses_padding_modes_it_would_not_apply(padding_mode: str) -> None:
    """Regression: SameConv1d with a padding mode other than zeros returned 'valid'-length outputs (T - k + 1):
    nn.Conv1d derives that mode's padding from padding=0 before SameConv1d sets its own."""
    with pytest.raises(ValueError, match="zero padding"):
        SameConv1d(2, 3, 5, padding_mode=padding_mode)


def test_a_torch_without_the_cpu_capabilities_reader_still_runs_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: ``torch.cpu.get_capabilities`` is newer than the oldest torch tshub installs with; where it was
    missing every FCN forward pass on an AVX-512 CPU raised AttributeError (the AMD check of the Winograd path). A
    CPU torch cannot name is taken as measured on no maker's CPU: plain oneDNN convolutions, bf16 units unknown."""
    from tshub.training.precision import onednn_bf16_units

    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.delattr(torch.cpu, "get_capabilities")
    torch.manual_seed(0)
    model = build_model("fcn", 1, 2, filters=(128, 128, 128)).eval()
    x = torch.randn(2, 1, 16)
    with torch.no_grad():
        assert model(x).shape == (2, 2)
    assert onednn_bf16_units() == (False, False)
