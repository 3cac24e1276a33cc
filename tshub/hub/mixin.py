"""``HubMixin``: the checkpoint methods of every model (``save_pretrained``, ``push_to_hub``, ``from_pretrained``).

The model classes inherit it, as transformers' models inherit their hub plumbing; the methods are thin and the
work is done by ``tshub.hub.checkpoint``, ``tshub.hub.remote`` and ``tshub.hub.resolution``. Those import the
architecture registry (to build a network from its config), and with it every model, so this module imports them
when a method is called: the models import only this module of the hub.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from tshub.models.base import TimeSeriesModel

M = TypeVar("M", bound="HubMixin")


class HubMixin:
    """Saving to a checkpoint folder, uploading to the Hub and loading back, for ``TimeSeriesModel``."""

    # What a load set in ``meta`` and the values it replaced, kept out of saves (``tshub.hub.checkpoint.note_load``);
    # never mutated: each load assigns its own.
    load_facts: tuple[dict[str, Any], dict[str, Any]] = ({}, {})

    def save_pretrained(self, folder: str | Path, *, dtype: str = "float32", **card_fields: Any) -> Path:
        """Write the checkpoint folder (model.safetensors, config.json, README.md card, and
        training_history.json when the model has a ``training_history``).

        ``card_fields`` add to ``self.meta`` for this checkpoint (e.g. ``id=``, ``source=``, ``reference=``,
        ``limitations=``); ``dtype`` "float16" or "bfloat16" shrinks the weights file (loaded back as float32).
        An existing folder keeps its other files; a path that is an existing file is refused (``CheckpointError``),
        the file untouched.
        """
        from tshub.hub.checkpoint import save_checkpoint

        return save_checkpoint(cast("TimeSeriesModel", self), folder, dtype=dtype, **card_fields)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        token: str | None = None,
        private: bool | None = None,
        commit_message: str = "Upload tshub checkpoint",
        **card_fields: Any,
    ) -> str:
        """Save this model as a checkpoint and upload it to the Hub repo ``repo_id``; returns the commit URL.
        Offline, without a token or with the Hub out of reach it raises ``HubError`` naming the Hub and the cause."""
        from tshub.hub.remote import push_to_hub

        return push_to_hub(
            cast("TimeSeriesModel", self),
            repo_id,
            token=token,
            private=private,
            commit_message=commit_message,
            **card_fields,
        )

    @classmethod
    def from_pretrained(cls: type[M], id_or_path: str | Path, revision: str | None = None) -> M:
        """Load a checkpoint folder, model id ("LEN-DB/magnet") or Hub repo id (same as ``tshub.load_pretrained``)."""
        from tshub.hub.resolution import load_pretrained

        model = load_pretrained(id_or_path, revision)
        if not isinstance(model, cls):
            raise TypeError(
                f"{id_or_path} holds a {type(model).__name__} ({model.arch}), not a {cls.__name__}; "
                "use tshub.load_pretrained to load any architecture."
            )
        return model
