"""The interface every tshub architecture shares: a transferable backbone, a task-specific head, stream_max.

Inputs are float tensors (batch, channels, time). ``forward_features`` gives the (batch, features) vector that
enters the head, with ``stream_max`` (batch, 1) concatenated when the model uses it (Otović et al.).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from tshub.hub.mixin import HubMixin
from tshub.models.cpu import computes_channels_last, winograd_tile
from tshub.models.registry import BASE_ARGUMENTS
from tshub.models.winograd import conv1d_time_major
from tshub.naming import closest


class ModelInputError(ValueError):
    """Raised when a model gets input it was not built for (wrong channels, too short, missing stream_max)."""


def _adapt_advice(channels: int) -> str:
    """What fits a network to series of ``channels`` channels, said for Python and the command line alike (the
    CLI's user can only fine-tune)."""
    return (
        f"fine-tune it on such series (tshub.finetune, `tshub finetune`), which adapts its input layer, or call "
        f"model.adapt_input_channels({channels}) to adapt it without training."
    )


class HeadStatistics(nn.Module):
    """One source dataset's BatchNorm running statistics: a mean and a variance per BatchNorm of the backbone."""

    def __init__(self, norms: list[_BatchNorm]):
        super().__init__()
        for i, norm in enumerate(norms):
            assert norm.running_mean is not None and norm.running_var is not None  # batch_norms: tracked ones
            self.register_buffer(f"mean_{i}", norm.running_mean.detach().clone())
            self.register_buffer(f"var_{i}", norm.running_var.detach().clone())


class MultiHead(nn.Module):
    """One output layer per source dataset (ConvTimeNet-style multi-head pretraining); pick one with ``head=``.

    With ``statistics`` each head also keeps its dataset's BatchNorm running statistics, which the backbone uses
    whenever that head is selected: a batch of one dataset is normalised by its own batch statistics in training,
    so evaluating it with running statistics averaged over every dataset (the shared buffers) scores a network
    that never trained: UCR/convtimenet's weights, 91 heads, mean test accuracy 0.504 with shared statistics and
    0.780 with each dataset's own (bench/results/multihead_statistics.md; domain-specific BatchNorm, as in
    multi-domain learning).
    """

    def __init__(self, heads: dict[str, nn.Module], statistics: dict[str, HeadStatistics] | None = None):
        super().__init__()
        self.heads = nn.ModuleDict(heads)
        self.statistics = nn.ModuleDict(statistics) if statistics is not None else None

    def check(self, head: str | None) -> str:
        """``head`` if the model has it; otherwise a clear error."""
        if head is None:
            raise ModelInputError(
                f"this model has one head per source dataset ({sorted(self.heads)[:5]}...): name one, "
                "model.predict(X, head=<name>), or fine-tune it, which gives it a single head."
            )
        if head not in self.heads:
            guesses = closest(head, self.heads)
            if guesses:
                raise ModelInputError(f"no head {head!r}; did you mean {' or '.join(map(repr, guesses))}?")
            raise ModelInputError(f"no head {head!r}; heads: {sorted(self.heads)}")
        return head

    @contextmanager
    def statistics_of(self, head: str, backbone: nn.Module) -> Iterator[None]:
        """Point the backbone's BatchNorms at ``head``'s running statistics for one forward pass (a training-mode
        pass updates the head's, not the shared ones). Not for concurrent forward passes of one model object."""
        if self.statistics is None:
            yield
            return
        norms, stats = batch_norms(backbone), self.statistics[head]
        shared = [(norm.running_mean, norm.running_var) for norm in norms]
        try:
            for i, norm in enumerate(norms):
                norm.running_mean, norm.running_var = getattr(stats, f"mean_{i}"), getattr(stats, f"var_{i}")
            yield
        finally:
            for norm, (mean, var) in zip(norms, shared, strict=True):
                norm.running_mean, norm.running_var = mean, var

    def pool_statistics(self, backbone: nn.Module, weights: dict[str, float]) -> None:
        """Set the backbone's shared running statistics to those of every head's data pooled (``weights``: each
        head's share, e.g. its training series × length): what a forward pass without a head, such as the start
        of a fine-tune or a transferability score, normalises by."""
        if self.statistics is None:
            return
        total = sum(weights.values())
        for i, norm in enumerate(batch_norms(backbone)):
            mean = sum(w * getattr(self.statistics[h], f"mean_{i}") for h, w in weights.items()) / total
            second = sum(
                w * (getattr(self.statistics[h], f"var_{i}") + getattr(self.statistics[h], f"mean_{i}") ** 2)
                for h, w in weights.items()
            )
            assert norm.running_mean is not None and norm.running_var is not None  # batch_norms: tracked ones
            norm.running_mean.copy_(mean)
            norm.running_var.copy_(second / total - mean**2)

    def forward(self, features: torch.Tensor, head: str | None = None) -> torch.Tensor:
        return self.heads[self.check(head)](features)


def batch_norms(module: nn.Module) -> list[_BatchNorm]:
    """The BatchNorm layers of ``module`` that keep running statistics, in module order."""
    return [m for m in module.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


class TimeSeriesModel(nn.Module, HubMixin):
    """Base class of every registered architecture.

    Subclasses build ``self.backbone`` (everything transferable) in ``__init__``, implement ``backbone_features``
    (x → (batch, F) without stream_max), override ``build_head`` for a deeper head, set ``feature_dim`` (F), list in
    ``input_layers`` the names of the modules that consume the input channels (adapted on channel changes).
    Architectures with length-bound parts set ``length_bound = True`` and take ``input_length``. Checkpoint
    methods (``save_pretrained``, ``push_to_hub``, ``from_pretrained``) come from ``tshub.hub.mixin.HubMixin``.
    """

    arch: ClassVar[str] = ""
    length_bound: ClassVar[bool] = False
    input_layers: tuple[str, ...] = ()  # per class; an instance may set its own (tcn, convtimenet)
    arch_kwargs: dict[str, Any]
    backbone: nn.Module

    def __new__(cls, *args: Any, **kwargs: Any) -> TimeSeriesModel:
        """Record the architecture's constructor arguments, defaults included, in ``arch_kwargs``.

        As huggingface_hub's ``ModelHubMixin.__new__`` does: a model built from its class (``FCN(1, 2, filters=…)``)
        saves a config that rebuilds it, exactly as one built by the registry. Copies and unpickling call
        ``__new__`` without arguments and restore ``arch_kwargs`` with the rest of the instance.
        """
        instance = super().__new__(cls)
        if args or kwargs:
            bound = inspect.signature(cls.__init__).bind(instance, *args, **kwargs)
            bound.apply_defaults()
            instance.__dict__["arch_kwargs"] = {
                name: value for name, value in bound.arguments.items() if name not in BASE_ARGUMENTS
            }
        return instance

    def __init__(
        self, in_channels: int, n_outputs: int, *, use_stream_max: bool = False, input_length: int | None = None
    ):
        super().__init__()
        if in_channels < 1 or n_outputs < 1:
            raise ValueError(f"in_channels and n_outputs must be >= 1, got {in_channels}, {n_outputs}.")
        if self.length_bound and (input_length is None or input_length < 1):
            raise ValueError(f"{self.arch} has length-bound layers: pass input_length=<series length> (>= 1).")
        self.in_channels = in_channels
        self.n_outputs = n_outputs
        self.use_stream_max = use_stream_max
        self.input_length = input_length if self.length_bound else None
        self.feature_dim = 0
        self.head: nn.Module = nn.Identity()
        # Set by training: what the outputs mean and how raw series are prepared (stored in checkpoints).
        self.task: str | None = None
        self.classes: list[str] | None = None
        self.class_values: list[int] | None = None  # the labels as numbers when they were given as numbers
        self.preprocessor: Any = None  # a tshub.data.preprocess.Preprocessor once fitted
        self.meta: dict[str, Any] = {}  # provenance: source dataset, recipe, metrics, parent checkpoint
        self.training_history: Any = None  # a tshub.hub.history.TrainingHistory once trained or loaded

    # ------------------------------------------------------------------ to implement
    def backbone_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def build_head(self, n_features: int, n_outputs: int) -> nn.Module:
        """The output layer: a Keras-style Dense (glorot_uniform, zero bias); override for deeper heads."""
        head = nn.Linear(n_features, n_outputs)
        glorot_uniform_(head)
        return head

    def regularization_loss(self) -> torch.Tensor | None:
        """Extra loss term of the reference recipe (e.g. L2 on conv kernels); None when there is none."""
        return None

    # ------------------------------------------------------------------ shared behaviour
    @property
    def head_input_dim(self) -> int:
        return self.feature_dim + (1 if self.use_stream_max else 0)

    def forward_features(self, x: torch.Tensor, stream_max: torch.Tensor | None = None) -> torch.Tensor:
        self._check_input(x)
        features = self.backbone_features(x)
        if self.use_stream_max:
            if stream_max is None:
                raise ModelInputError(
                    f"this {self.arch} model was built with use_stream_max=True: pass stream_max of shape "
                    "(batch, 1) (the raw per-series max |x|, see tshub.data.preprocess.MinMaxMask)."
                )
            if stream_max.shape not in ((len(x),), (len(x), 1)):
                raise ModelInputError(
                    f"stream_max must hold one value per series, shape (batch, 1) = ({len(x)}, 1); "
                    f"got {tuple(stream_max.shape)}."
                )
            features = torch.cat([features, stream_max.reshape(-1, 1).to(features.dtype)], dim=1)
        return features

    def forward(self, x: torch.Tensor, stream_max: torch.Tensor | None = None, head: str | None = None) -> torch.Tensor:
        if isinstance(self.head, MultiHead):
            with self.head.statistics_of(self.head.check(head), self.backbone):
                return self.head(self.forward_features(x, stream_max), head)
        return self.head(self.forward_features(x, stream_max))

    def reset_head(self, n_outputs: int) -> None:
        """Replace the head (single or multi) by a freshly initialised single head with ``n_outputs`` outputs."""
        self.n_outputs = n_outputs
        self.head = self.build_head(self.head_input_dim, n_outputs)

    def set_heads(self, outputs_per_head: dict[str, int], *, statistics: bool = True) -> None:
        """Give the model one fresh head per named source dataset (multi-head pretraining), each with its own
        BatchNorm running statistics unless ``statistics=False`` (checkpoints saved before heads kept them).
        Statistics are kept for the backbone's BatchNorms, so a model with others beside it is refused: they would
        stay shared, every head evaluated with the statistics of the dataset seen last."""
        beside = self.batch_norms_beside_backbone()
        if statistics and beside:
            raise ValueError(
                f"{self.arch} keeps BatchNorms outside its backbone ({', '.join(beside)}), which per-head statistics "
                "would leave shared between the heads' datasets; pretrain it one dataset at a time, or pass "
                "statistics=False to share every BatchNorm's statistics knowingly."
            )
        norms = batch_norms(self.backbone) if statistics else None
        self.head = MultiHead(
            {name: self.build_head(self.head_input_dim, n) for name, n in outputs_per_head.items()},
            {name: HeadStatistics(norms) for name in outputs_per_head} if norms is not None else None,
        )

    def batch_norms_beside_backbone(self) -> list[str]:
        """The names of the BatchNorms outside the backbone and the head (an LSTM branch's), which per-head
        statistics cannot keep apart."""
        tracked = batch_norms(self)
        return [n for n, m in self.named_modules() if m in tracked and not n.startswith(("backbone.", "head."))]

    def adapt_input_channels(self, channels: int) -> None:
        """Change the number of input channels, adapting the input layers' kernels (see ``adapt_channel_kernel``)."""
        if channels < 1:
            raise ModelInputError(f"a model needs at least one input channel, got {channels}.")
        for name in self.input_layers:
            layer = cast(nn.Conv1d, self.get_submodule(name))  # every input layer is a Conv1d
            layer.weight = nn.Parameter(adapt_channel_kernel(layer.weight.data, channels))
            layer.in_channels = channels
        self.in_channels = channels

    def input_parameter_names(self) -> set[str]:
        """Full names of the parameters whose dimension 1 is the input channel count."""
        return {f"{name}.weight" for name in self.input_layers}

    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild this network with ``tshub.models.build_model``."""
        multi = self.head if isinstance(self.head, MultiHead) else None
        heads = {k: int(_out_features(v)) for k, v in multi.heads.items()} if multi is not None else None
        statistics = {"head_statistics": True} if multi is not None and multi.statistics is not None else {}
        return {
            "arch": self.arch,
            "in_channels": self.in_channels,
            "n_outputs": self.n_outputs,
            "use_stream_max": self.use_stream_max,
            "input_length": self.input_length,
            "arch_kwargs": dict(self.arch_kwargs),
            "heads": heads,
            **statistics,
        }

    def check_channels(self, shape: tuple[int, ...]) -> None:
        """Refuse series (n, channels, length) of another channel count, saying what fits them to this network:
        a transpose when they look channels-last (their length is its channel count), else adapting its input."""
        if shape[1] == self.in_channels:
            return
        built = f"{self.arch} was built for {self.in_channels} channel(s), got"
        if shape[2] == self.in_channels:
            raise ModelInputError(
                f"{built} series of shape {shape}, which look channels-last (n, length, channels): tshub takes "
                f"(n, channels, length), so pass X.transpose(0, 2, 1); if they are {shape[1]} channels of "
                f"{shape[2]} steps, {_adapt_advice(shape[1])}"
            )
        raise ModelInputError(f"{built} {shape[1]}: {_adapt_advice(shape[1])}")

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 3:
            raise ModelInputError(f"{self.arch} expects (batch, channels, time), got shape {tuple(x.shape)}.")
        self.check_channels(tuple(x.shape))
        if x.shape[2] < 1:
            raise ModelInputError(f"{self.arch} got series with no time step (shape {tuple(x.shape)}).")
        if self.length_bound and x.shape[2] != self.input_length:
            raise ModelInputError(
                f"{self.arch} has length-bound layers built for length {self.input_length}, got {x.shape[2]}; "
                "fine-tuning rebuilds them for a new length."
            )

    # ------------------------------------------------------------------ inference and fine-tuning: tshub.training
    # holds the logic (it imports the models, so it is imported when called); save_pretrained, push_to_hub and
    # from_pretrained come from HubMixin.
    def predict(self, X_raw: Any, batch_size: int = 256, *, codes: bool = False, head: str | None = None) -> np.ndarray:
        """Predictions for raw series (n, c, t): class labels or values ((n,) for one output).

        A classifier returns the original labels (strings from ``classes``, e.g. "1", "2"), whereas
        ``Dataset.split()`` gives integer codes (indices into ``classes``): compare ``predict(X)`` with
        ``ds.split(name, labels=True)[1]``, or ``predict(X, codes=True)`` with ``ds.split(name)[1]``.
        ``self.preprocessor`` (fitted during training) is applied first, so raw data gets what training saw.
        A multi-head model predicts through the ``head`` named (a source dataset), with that head's labels.
        """
        from tshub.training import inference

        return inference.predict(self, X_raw, batch_size, codes=codes, head=head)

    def predict_proba(self, X_raw: Any, batch_size: int = 256, *, head: str | None = None) -> np.ndarray:
        """Class probabilities (n, n_classes), columns in the order of ``classes`` (of ``head``'s labels)."""
        from tshub.training import inference

        return inference.predict_proba(self, X_raw, batch_size, head=head)

    def finetune(self, dataset: Any, **kwargs: Any) -> Any:
        """Fine-tune a copy of this model on ``dataset``; see ``tshub.training.finetune`` (returns a FitResult)."""
        from tshub.training.finetuning import finetune

        return finetune(self, dataset, **kwargs)


class SameConv1d(nn.Conv1d):
    """Conv1d with TensorFlow/Keras 'SAME' padding for any stride: out = ceil(T / stride), an odd pad on the right.

    At stride 1 it computes exactly what ``nn.Conv1d(..., padding="same")`` computes (the symmetric part of the
    pad inside the convolution, the odd zero appended on the right), without torch's warning about even kernels;
    parameter names and shapes are those of ``nn.Conv1d``, so checkpoints load unchanged. ``channels_last``
    (stride 1) returns the output channels-last in memory where that pays (``tshub.models.cpu``), for blocks that
    keep their activations so (the FCN's), computed as Winograd's where that pays (``winograd_tile``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        *,
        channels_last: bool = False,
        **kwargs: Any,
    ):
        if kwargs.get("padding_mode", "zeros") != "zeros":
            raise ValueError(
                f"SameConv1d pads as Keras' 'same' does, with zero padding; padding_mode={kwargs['padding_mode']!r} "
                "is not applied by it: use nn.Conv1d with that mode and an explicit padding."
            )
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, **kwargs)
        if channels_last and stride != 1:
            raise ValueError("channels_last computes stride-1 convolutions only")
        total = self.dilation[0] * (self.kernel_size[0] - 1)
        self.right_extra = total % 2 if stride == 1 else 0
        self.channels_last = channels_last
        if stride == 1:
            self.padding = (total // 2,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stride = self.stride[0]
        if self.channels_last and x.dim() == 3:  # an unbatched (C, T) series takes the plain path
            tile = winograd_tile(x, self)
            if tile is not None:
                return self._forward_winograd(x, tile)
            if computes_channels_last(x, self):
                return self._forward_channels_last(x)
        if stride == 1:
            return super().forward(F.pad(x, (0, self.right_extra)) if self.right_extra else x)
        length = x.shape[-1]
        total = max(
            (math.ceil(length / stride) - 1) * stride + self.dilation[0] * (self.kernel_size[0] - 1) + 1 - length, 0
        )
        return super().forward(F.pad(x, (total // 2, total - total // 2)))

    def _forward_winograd(self, x: torch.Tensor, outputs_per_tile: int) -> torch.Tensor:
        """The convolution as Winograd's F(``outputs_per_tile``, k) (``tshub.models.winograd``), its output
        channels-last in memory as ``_forward_channels_last``'s."""
        time_major = conv1d_time_major(
            x.transpose(1, 2), self.weight, self.bias, cast(int, self.padding[0]), outputs_per_tile
        )
        return time_major.transpose(1, 2)

    def _forward_channels_last(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution with its output channels-last in memory: shape (N, C, T), C the fastest axis.

        oneDNN's CPU convolutions compute in that layout; given and returning plain (N, C, T) tensors they copy every
        input, output and gradient through a transpose, which costs the FCN's bf16 step as much as a convolution.
        Fed channels-last input (``on_channels_last_matrix`` keeps it so) the copies disappear. Same values as the
        plain path up to float rounding; the epoch times are in bench/results/train_speed*.md.
        """
        time_major = x.transpose(1, 2)  # (N, T, C): already contiguous when x is channels-last
        time_major = F.pad(time_major, (0, 0, 0, self.right_extra)) if self.right_extra else time_major.contiguous()
        out = F.conv2d(
            time_major.transpose(1, 2).unsqueeze(2),
            self.weight.unsqueeze(2),
            self.bias,
            padding=(0, cast(int, self.padding[0])),
            dilation=(1, self.dilation[0]),
            groups=self.groups,
        )
        return out.squeeze(2)


def on_channels_last_matrix(layer: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` for a per-channel ``layer`` (BatchNorm1d, an activation) and a channels-last (N, C, T) ``x``,
    computed on the (N·T, C) matrix its memory is; the result is channels-last too. A plain ``x`` (the block's
    convolution computed plain, see ``tshub.models.cpu``) is passed to ``layer`` as it is.

    PyTorch's BatchNorm and elementwise kernels take that matrix at full speed but a channels-last 3-D tensor
    several times slower; the statistics are the same (per channel, over batch and time), and so are the values.
    """
    if not x.transpose(1, 2).is_contiguous():
        return layer(x)
    n, channels, length = x.shape
    out = layer(x.transpose(1, 2).reshape(n * length, channels))
    return out.view(n, length, channels).transpose(1, 2)


def adapt_channel_kernel(weight: torch.Tensor, channels: int) -> torch.Tensor:
    """Map a kernel (out, C_s, k) to (out, C_t, k): every target channel gets sum over source channels / C_t.

    One rule for every case: fed the same signal on all C_t channels, the adapted layer gives exactly what the
    source layer gave with that signal on all C_s channels. 1 → C repeats the kernel scaled by 1/C (activations
    keep their size, unlike the unscaled repeat of the Otović code); C → 1 sums the kernels.
    """
    summed = weight.sum(dim=1, keepdim=True) / channels
    return summed.repeat(1, channels, *([1] * (weight.ndim - 2))).contiguous()


def glorot_uniform_(module: Any) -> None:
    """Keras' default initialiser (glorot_uniform kernel, zero bias) for Conv/Linear layers."""
    nn.init.xavier_uniform_(module.weight)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)


def he_uniform_(module: Any) -> None:
    """Keras he_uniform (fan-in, ReLU gain), zero bias."""
    nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)


def keras_truncated_normal_(module: Any, std: float) -> None:
    """Keras' VarianceScaling 'normal' draw: a normal cut at ±2σ, σ rescaled so the cut draw has std ``std``;
    zero bias."""
    std = std / 0.87962566103423978  # std of a standard normal truncated to [-2, 2]
    nn.init.trunc_normal_(module.weight, std=std, a=-2 * std, b=2 * std)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)


def he_normal_(module: Any) -> None:
    """Keras he_normal: std sqrt(2 / fan_in), truncated (see ``keras_truncated_normal_``), zero bias."""
    keras_truncated_normal_(module, math.sqrt(2.0 / module.weight[0].numel()))


def keras_lstm_init_(lstm: nn.LSTM) -> None:
    """Keras LSTM init: glorot_uniform input kernel, orthogonal recurrent kernel, zero bias, forget-gate bias 1.

    PyTorch keeps two bias vectors (like Keras' CuDNNLSTM); the forget slice of ``bias_ih`` carries the 1.
    """
    hidden = lstm.hidden_size
    for name, param in lstm.named_parameters():
        if name.startswith("weight_ih"):
            nn.init.xavier_uniform_(param)
        elif name.startswith("weight_hh"):
            nn.init.orthogonal_(param)
        else:
            nn.init.zeros_(param)
            if name.startswith("bias_ih"):
                nn.init.ones_(param[hidden : 2 * hidden])  # gate order i, f, g, o (same as Keras)


def batch_norm(channels: int) -> nn.BatchNorm1d:
    """BatchNorm with Keras' eps (1e-3) but PyTorch's running-statistics momentum (0.1), not Keras' 0.99.

    With Keras' slow statistics (PyTorch momentum 0.01) a small dataset's eval-mode model lags its training-mode
    one for hundreds of steps, so early stopping on validation fires before learning shows (bigdata18's recipe had
    no early stopping; Otović et al.'s MLSTM-FCN early-stopped with Keras' 0.99, on sets of thousands of series);
    the measurement is in bench/results/batchnorm_momentum.md.
    """
    return nn.BatchNorm1d(channels, momentum=0.1, eps=1e-3)


def _out_features(head: nn.Module) -> int:
    for module in reversed(list(head.modules())):
        if isinstance(module, nn.Linear):
            return module.out_features
    raise ValueError("head has no Linear layer")
