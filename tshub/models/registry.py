"""Architecture registry: name → model class (each model records its own constructor arguments)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from tshub.naming import closest

if TYPE_CHECKING:
    from tshub.models.base import TimeSeriesModel

# Constructor arguments every architecture shares; the rest of a signature are its ``arch_kwargs``.
BASE_ARGUMENTS = frozenset({"self", "in_channels", "n_outputs", "use_stream_max", "input_length"})
_REGISTRY: dict[str, type[TimeSeriesModel]] = {}
M = TypeVar("M", bound="type[TimeSeriesModel]")


def register(name: str) -> Callable[[M], M]:
    """Class decorator adding an architecture under ``name`` (lower case, also its ``arch`` attribute)."""

    def wrap(cls: M) -> M:
        if name in _REGISTRY:
            raise ValueError(f"architecture {name!r} is already registered")
        cls.arch = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def list_architectures() -> list[str]:
    return sorted(_REGISTRY)


class UnknownArchitectureError(KeyError, ValueError):
    """A name no architecture is registered under: a user's word (a ValueError), still a KeyError for code that
    looks names up, printed as the plain sentence it is (a KeyError's message prints inside quotes)."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_architecture(name: str) -> type[TimeSeriesModel]:
    key = name.lower().replace("-", "_")
    if key not in _REGISTRY:
        close = closest(key, _REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownArchitectureError(
            f"unknown architecture {name!r}; registered: {', '.join(list_architectures())}.{hint}"
        )
    return _REGISTRY[key]


def default_kwargs(name: str) -> dict[str, Any]:
    """The architecture-specific keyword arguments and their defaults."""
    params = inspect.signature(get_architecture(name).__init__).parameters
    return {
        k: p.default for k, p in params.items() if k not in BASE_ARGUMENTS and p.default is not inspect.Parameter.empty
    }


def build_model(
    name: str,
    in_channels: int,
    n_outputs: int,
    *,
    use_stream_max: bool = False,
    input_length: int | None = None,
    **kwargs: Any,
) -> TimeSeriesModel:
    """Build a registered architecture; ``input_length`` is required only by length-bound ones."""
    cls = get_architecture(name)
    defaults = default_kwargs(cls.arch)
    unknown = set(kwargs) - set(defaults)
    if unknown:
        raise TypeError(f"{cls.arch} does not take {sorted(unknown)}; it takes {sorted(defaults)}.")
    return cls(in_channels, n_outputs, use_stream_max=use_stream_max, input_length=input_length, **kwargs)
