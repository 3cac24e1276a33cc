"""Loading a checkpoint gives, bit for bit, the model that building it at random and copying the weights in gave.

``load_checkpoint`` builds the network on the meta device and makes the stored tensors its own (no random
initialisation drawn only to be overwritten). ``copied_load`` below is the loading it replaced, kept here as the
reference: every registered architecture, with BatchNorm statistics, several heads, a stream_max input and weights
stored in float32, float16 or bfloat16, and real zoo checkpoints, must load to the same parameters, buffers and
outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save

from tshub.hub.checkpoint import (
    CONFIG_NAME,
    PREPROCESSING_PREFIX,
    WEIGHTS_NAME,
    CheckpointError,
    _assign_state,
    _build,
    load_checkpoint,
    sha256_file,
)
from tshub.models.base import TimeSeriesModel
from tshub.models.fcn import FCN
from tshub.models.registry import build_model, list_architectures

REPO_ZOO = Path(__file__).resolve().parents[1] / "zoo"
LENGTH = 64


def copied_load(folder: Path) -> TimeSeriesModel:
    """The network as ``load_checkpoint`` built it before: initialised at random, then the stored weights copied in."""
    config = json.loads((folder / CONFIG_NAME).read_text())
    model = _build(config, folder)
    state = {k: v for k, v in load_file(folder / WEIGHTS_NAME).items() if not k.startswith(PREPROCESSING_PREFIX)}
    expected = model.state_dict()
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)
    return model.eval()


def assert_identical(loaded: TimeSeriesModel, reference: TimeSeriesModel) -> None:
    """Same class, parameters (and which are parameters), buffers, dtypes and values, bit for bit."""
    assert type(loaded) is type(reference) and not loaded.training
    assert [n for n, _ in loaded.named_parameters()] == [n for n, _ in reference.named_parameters()]
    assert [n for n, _ in loaded.named_buffers()] == [n for n, _ in reference.named_buffers()]
    assert all(p.requires_grad for p in loaded.parameters())
    ours, theirs = loaded.state_dict(), reference.state_dict()
    assert list(ours) == list(theirs)
    for name, tensor in theirs.items():
        got = ours[name]
        assert (got.device, got.dtype, got.shape) == (tensor.device, tensor.dtype, tensor.shape), name
        assert torch.equal(got.view(-1).view(torch.uint8), tensor.view(-1).view(torch.uint8)), f"{name} differs"
    storages = [t.untyped_storage().data_ptr() for t in ours.values()]
    assert len(set(storages)) == len(storages)  # every tensor its own memory, so the model saves and trains as before
    save(ours)


def stream_max_input(in_channels: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(4, in_channels, LENGTH, generator=torch.Generator().manual_seed(seed))
    return x, x.abs().amax(dim=(1, 2)).unsqueeze(1)


def trained_statistics(model: TimeSeriesModel) -> TimeSeriesModel:
    """A forward pass in training mode, so BatchNorm running statistics and counters are not their initial values."""
    x, stream_max = stream_max_input(model.in_channels, seed=2)
    with torch.no_grad():
        model.train().forward_features(x, stream_max)
    return model.eval()


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("arch", list_architectures())
def test_every_architecture_loads_bit_identical_to_the_copying_loader(arch: str, dtype: str, tmp_path: Path):
    torch.manual_seed(0)
    model = trained_statistics(build_model(arch, 2, 3, use_stream_max=True, input_length=LENGTH))
    folder = model.save_pretrained(tmp_path / arch, dtype=dtype)
    loaded = load_checkpoint(folder)
    assert_identical(loaded, copied_load(folder))
    x, stream_max = stream_max_input(2)
    with torch.no_grad():
        assert torch.equal(loaded(x, stream_max), copied_load(folder)(x, stream_max))
        if dtype == "float32":
            assert torch.equal(loaded(x, stream_max), model(x, stream_max))


@pytest.mark.parametrize("arch", ["fcn", "convtimenet"])
def test_a_multi_head_checkpoint_loads_bit_identical_with_every_head(arch: str, tmp_path: Path):
    torch.manual_seed(0)
    model = build_model(arch, 1, 2)
    model.set_heads({"GunPoint": 2, "Coffee": 2, "Adiac": 37})
    x, _ = stream_max_input(1)
    with torch.no_grad():
        trained_statistics(model).train()(x + 1, head="Adiac")  # the head's own statistics move too
    folder = model.eval().save_pretrained(tmp_path / arch, dtype="float16")
    assert json.loads((folder / "config.json").read_text())["head_statistics"] is True
    loaded = load_checkpoint(folder)
    assert_identical(loaded, copied_load(folder))
    with torch.no_grad():
        assert torch.equal(loaded(x, head="Adiac"), copied_load(folder)(x, head="Adiac"))


def zoo_checkpoints() -> list[Path]:
    """One committed zoo checkpoint of each kind (architecture, stored dtype, channels, single or multi-head)."""
    kinds: dict[tuple, Path] = {}
    for config_path in sorted(REPO_ZOO.glob("*/*/" + CONFIG_NAME)):
        config = json.loads(config_path.read_text())
        kind = (config["arch"], config["dtype"], config["in_channels"], bool(config["heads"]))
        kinds.setdefault(kind, config_path.parent)
    return list(kinds.values())


@pytest.mark.skipif(not zoo_checkpoints(), reason=f"no committed zoo checkpoints under {REPO_ZOO}")
def test_real_zoo_checkpoints_load_bit_identical_and_independent_of_their_file():
    for folder in zoo_checkpoints():
        loaded = load_checkpoint(folder)
        assert_identical(loaded, copied_load(folder))
        digest = sha256_file(folder / WEIGHTS_NAME)
        with torch.no_grad():
            for parameter in loaded.parameters():
                parameter.add_(1.0)  # training the loaded model must not write through to the file
        assert sha256_file(folder / WEIGHTS_NAME) == digest


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU to set another default device")
def test_a_checkpoint_loads_on_the_default_device_as_a_built_network_would(tmp_path: Path):
    torch.manual_seed(0)
    folder = trained_statistics(build_model("fcn", 1, 2)).save_pretrained(tmp_path / "fcn", dtype="float16")
    with torch.device("cuda"):
        loaded, reference = load_checkpoint(folder), copied_load(folder)
    assert next(loaded.parameters()).is_cuda
    assert_identical(loaded, reference)


class _ScaledFCN(FCN):
    """An FCN with a tensor that the state dict does not hold (a non-persistent buffer)."""

    def __init__(self, in_channels: int, n_outputs: int, **kwargs: object):
        super().__init__(in_channels, n_outputs, **kwargs)  # type: ignore[arg-type]
        self.register_buffer("scale", torch.ones(1), persistent=False)


def test_a_network_with_tensors_outside_its_state_dict_is_refused_not_left_on_the_meta_device(tmp_path: Path):
    state = FCN(1, 2).state_dict()
    with torch.device("meta"):
        skeleton = _ScaledFCN(1, 2)
    with pytest.raises(CheckpointError, match=r"checkpoints do not store \(scale\)"):
        _assign_state(skeleton, state, tmp_path / WEIGHTS_NAME)


def test_a_multi_head_checkpoint_saved_before_heads_kept_statistics_still_loads(tmp_path: Path):
    """UCR/convtimenet was first published with one set of BatchNorm statistics shared by every head: its config has
    no ``head_statistics``, and it loads as it was saved, the shared statistics serving every head."""
    torch.manual_seed(0)
    model = build_model("convtimenet", 1, 2)
    model.set_heads({"GunPoint": 2, "Adiac": 37}, statistics=False)
    folder = trained_statistics(model).save_pretrained(tmp_path / "old", dtype="float16")
    assert "head_statistics" not in json.loads((folder / "config.json").read_text())
    loaded = load_checkpoint(folder)
    assert loaded.head.statistics is None
    assert_identical(loaded, copied_load(folder))
    x, _ = stream_max_input(1)
    with torch.no_grad():
        assert torch.equal(loaded(x, head="Adiac"), copied_load(folder)(x, head="Adiac"))
