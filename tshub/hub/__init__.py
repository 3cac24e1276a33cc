"""Checkpoints and loading: the checkpoint folder, model ids, local stores, the Hugging Face Hub, model cards.

Data flows one way (data → model → train → hub): at import time this package needs only the architecture
registry of the models, and the models import only ``tshub.hub.mixin`` (their ``save_pretrained`` /
``push_to_hub`` / ``from_pretrained``, which import the rest when called), so either can be imported first. Why
the mixin uses huggingface_hub's primitives rather than its ``ModelHubMixin``: see ``tshub.hub.remote``.
"""

from tshub.hub.card import build_model_card
from tshub.hub.checkpoint import FORMAT_VERSION, load_checkpoint, read_config, save_checkpoint
from tshub.hub.errors import CheckpointError, HubError, InvalidModelIdError, ModelNotFoundError
from tshub.hub.ids import ModelId, hub_namespace, parse_model_id
from tshub.hub.remote import push_folder, push_to_hub
from tshub.hub.resolution import load_pretrained, pull, resolve
from tshub.hub.store import home_store, list_pretrained, stores, write_index

__all__ = [
    "FORMAT_VERSION",
    "CheckpointError",
    "HubError",
    "InvalidModelIdError",
    "ModelId",
    "ModelNotFoundError",
    "build_model_card",
    "home_store",
    "hub_namespace",
    "list_pretrained",
    "load_checkpoint",
    "load_pretrained",
    "parse_model_id",
    "pull",
    "push_folder",
    "push_to_hub",
    "read_config",
    "resolve",
    "save_checkpoint",
    "stores",
    "write_index",
]
