"""Model ids ``"<SOURCE>/<arch>"`` (e.g. ``LEN-DB/magnet``, ``GunPoint/fcn``) and their Hub repo names.

SOURCE is a dataset name matched case-insensitively, arch a registry name (``mlstm-fcn`` → ``mlstm_fcn``). The
Hub repo of an id is ``<namespace>/<SOURCE>-<arch>`` with the namespace from ``$TSHUB_NAMESPACE`` (default
``tshub``). A two-part name whose second part is not a registered architecture is a plain Hub repo id instead.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from tshub.hub.errors import InvalidModelIdError
from tshub.models.registry import get_architecture

DEFAULT_NAMESPACE = "tshub"
NAMESPACE_ENV = "TSHUB_NAMESPACE"
# Hub repo names allow letters, digits, "-", "_" and "."; a source must fit in one.
_SOURCE_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$")


@dataclass(frozen=True)
class ModelId:
    """A parsed model id; two ids are the same model when their sources match case-insensitively."""

    source: str
    arch: str

    def __str__(self) -> str:
        return f"{self.source}/{self.arch}"

    @property
    def key(self) -> tuple[str, str]:
        """What identifies the model: the source case-folded, the registry arch name."""
        return source_key(self.source), self.arch

    def names_source(self, name: str) -> bool:
        """Whether ``name`` (a dataset or source name) is this id's source; sources match case-insensitively."""
        return source_key(self.source) == source_key(name)

    def spelled_as(self, names: Iterable[str]) -> ModelId:
        """This id with its source spelled as the first of ``names`` that names it, else unchanged (Hub repo names
        and HF cache folders spell a source one way)."""
        return ModelId(next((name for name in names if self.names_source(name)), self.source), self.arch)

    def repo_id(self, namespace: str | None = None) -> str:
        """The Hub repo holding this checkpoint: ``<namespace>/<SOURCE>-<arch>``."""
        return f"{namespace or hub_namespace()}/{self.source}-{self.arch}"


def source_key(name: str) -> str:
    """What identifies a source (dataset) name: two names are the same source when their keys are equal."""
    return name.casefold()


def hub_namespace() -> str:
    """The Hub user or organisation of the published zoo (``$TSHUB_NAMESPACE``, default ``tshub``)."""
    return os.environ.get(NAMESPACE_ENV) or DEFAULT_NAMESPACE


def parse_model_id(text: str) -> ModelId:
    """Parse ``"<SOURCE>/<arch>"``; the arch is normalised to its registry name."""
    parts = text.strip().split("/")
    if len(parts) != 2 or not all(parts):
        raise InvalidModelIdError(
            f"{text!r} is not a model id: expected '<SOURCE>/<arch>', e.g. 'GunPoint/fcn' or 'LEN-DB/magnet'."
        )
    source, arch = parts
    if not _SOURCE_PATTERN.match(source) or "--" in source or ".." in source:
        raise InvalidModelIdError(
            f"{text!r}: source {source!r} may hold only letters, digits, '-', '_' and '.' (ids are Hub repo names)."
        )
    try:
        arch_name = get_architecture(arch).arch
    except KeyError as err:
        raise InvalidModelIdError(f"{text!r}: {err.args[0]}") from None
    return ModelId(source, arch_name)


def as_model_id(text: str) -> ModelId | None:
    """The model id in ``text``, or None when it is something else (a path, a plain Hub repo id)."""
    try:
        return parse_model_id(text)
    except InvalidModelIdError:
        return None
