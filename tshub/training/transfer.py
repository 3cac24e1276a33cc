"""Weight transfer from a source checkpoint into a freshly built target model, with a report of what moved.

Every backbone tensor (parameters and buffers, e.g. BatchNorm running statistics, as bigdata18 copies them)
whose name and shape fit is copied; input layers whose kernels differ only in the channel dimension are adapted
with ``adapt_channel_kernel``; everything else keeps the target's fresh initialisation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from tshub.models.base import TimeSeriesModel, adapt_channel_kernel

BACKBONE_PREFIX = "backbone."
HEAD_PREFIX = "head."


@dataclass
class TransferReport:
    """Which target tensors were copied, adapted (channel count) or re-initialised, and why."""

    source_arch: str
    copied: list[str] = field(default_factory=list)
    adapted: list[dict[str, Any]] = field(default_factory=list)  # {"name", "source_shape", "target_shape"}
    reinitialised: list[dict[str, str]] = field(default_factory=list)  # {"name", "reason"}
    transferred_parameters: list[str] = field(default_factory=list)  # copied or adapted nn.Parameters (ω group)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransferReport:
        return cls(**data)

    def __str__(self) -> str:
        lines = [
            f"transfer from {self.source_arch}: {len(self.copied)} copied, {len(self.adapted)} adapted, "
            f"{len(self.reinitialised)} re-initialised"
        ]
        lines += [
            f"  adapted   {a['name']}: {tuple(a['source_shape'])} -> {tuple(a['target_shape'])}" for a in self.adapted
        ]
        lines += [f"  fresh     {r['name']}: {r['reason']}" for r in self.reinitialised]
        return "\n".join(lines)


@torch.no_grad()
def transfer_weights(source: TimeSeriesModel, target: TimeSeriesModel) -> TransferReport:
    """Copy what fits from ``source`` into ``target`` (modified in place; ``source`` is only read)."""
    if source.arch != target.arch:
        raise ValueError(
            f"cannot transfer {source.arch} weights into a {target.arch} model: build the target with "
            f"the source's architecture ({source.arch})."
        )
    report = TransferReport(source_arch=source.arch)
    source_state = source.state_dict()
    parameter_names = {name for name, _ in target.named_parameters()}
    input_names = target.input_parameter_names()
    for name, tensor in target.state_dict().items():
        reason = _not_transferable(name, source_state)
        if reason is None:
            src = source_state[name]
            if src.shape == tensor.shape:
                tensor.copy_(src)
                report.copied.append(name)
            elif name in input_names and _differs_only_in_channels(src, tensor):
                if not tensor.is_meta:  # a meta-device target only asks what would move (and meta arithmetic is slow)
                    tensor.copy_(adapt_channel_kernel(src.to(tensor.device, tensor.dtype), tensor.shape[1]))
                report.adapted.append(
                    {"name": name, "source_shape": list(src.shape), "target_shape": list(tensor.shape)}
                )
            else:
                reason = _mismatch_reason(source, target, src.shape, tensor.shape)
        if reason is None:
            if name in parameter_names:
                report.transferred_parameters.append(name)
        else:
            report.reinitialised.append({"name": name, "reason": reason})
    return report


def _not_transferable(name: str, source_state: dict[str, torch.Tensor]) -> str | None:
    if name.startswith(HEAD_PREFIX):
        return "head"
    if not name.startswith(BACKBONE_PREFIX):
        return "outside the backbone"
    if name not in source_state:
        return "absent from the source"
    return None


def _differs_only_in_channels(src: torch.Tensor, dst: torch.Tensor) -> bool:
    return src.ndim == dst.ndim >= 2 and src.shape[0] == dst.shape[0] and src.shape[2:] == dst.shape[2:]


def _mismatch_reason(
    source: TimeSeriesModel, target: TimeSeriesModel, src_shape: torch.Size, dst_shape: torch.Size
) -> str:
    shapes = f"source {tuple(src_shape)} vs target {tuple(dst_shape)}"
    if target.length_bound and source.input_length != target.input_length:
        return f"length-bound (input length {source.input_length} -> {target.input_length}; {shapes})"
    return f"shape mismatch ({shapes})"
