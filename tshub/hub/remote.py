"""Hugging Face Hub I/O: download a checkpoint snapshot, upload a checkpoint folder.

Why not ``huggingface_hub.ModelHubMixin``: one generic ``load_pretrained`` must rebuild *any* registered
architecture from config.json (the mixin calls ``cls(**config)`` on a fixed class), config.json carries more than
constructor kwargs (task, classes, preprocessing, provenance, hash, format version), loading verifies a hash and
keys strictly and casts shrunk weights back to float32, and ``"<SOURCE>/<arch>"`` ids resolve through local
stores before the Hub. So tshub keeps the mixin's method names and symmetry (``save_pretrained`` /
``from_pretrained`` / ``push_to_hub`` on the model) and uses huggingface_hub's primitives for everything that
touches the Hub: ``snapshot_download`` (its cache, revisions, offline mode), ``HfApi.create_repo`` /
``upload_folder``, and ``ModelCard`` / ``ModelCardData`` / ``EvalResult`` for the card (see ``card``).

``HF_HUB_OFFLINE`` and ``HF_ENDPOINT`` are read when called, not only when huggingface_hub was imported.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi, constants, snapshot_download

import tshub
from tshub.hub.checkpoint import CHECKPOINT_FILES, save_checkpoint
from tshub.hub.errors import HubError
from tshub.models.base import TimeSeriesModel

DEFAULT_COMMIT_MESSAGE = "Upload tshub checkpoint"


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set now or was set when huggingface_hub was imported."""
    return constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").upper() in constants.ENV_VARS_TRUE_VALUES


def hub_endpoint() -> str:
    """The Hub URL: ``$HF_ENDPOINT`` or huggingface_hub's default."""
    return os.environ.get("HF_ENDPOINT") or constants.ENDPOINT


def download(repo_id: str, *, revision: str | None = None, local_dir: Path | None = None) -> Path:
    """Fetch the checkpoint files of a Hub repo (through the HF cache, or into ``local_dir``); offline: cache only."""
    return Path(snapshot_download(
        repo_id, revision=revision, local_dir=local_dir, local_files_only=hub_offline(), endpoint=hub_endpoint(),
        allow_patterns=list(CHECKPOINT_FILES), library_name="tshub", library_version=tshub.__version__,
    ))


def push_folder(folder: str | Path, repo_id: str, *, token: str | None = None, private: bool | None = None,
                commit_message: str = DEFAULT_COMMIT_MESSAGE, revision: str | None = None) -> str:
    """Create the Hub repo if needed and upload the checkpoint files of ``folder``; returns the commit URL."""
    if hub_offline():
        raise HubError(f"cannot push to {repo_id}: HF_HUB_OFFLINE is set; unset it (and log in with "
                       "`hf auth login` or pass token=) to upload.")
    api = HfApi(endpoint=hub_endpoint(), token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    commit = api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message=commit_message,
                               revision=revision, allow_patterns=list(CHECKPOINT_FILES))
    return commit.commit_url


def push_to_hub(model: TimeSeriesModel, repo_id: str, *, token: str | None = None, private: bool | None = None,
                commit_message: str = DEFAULT_COMMIT_MESSAGE, revision: str | None = None, dtype: str = "float32",
                **fields: Any) -> str:
    """Save ``model`` as a checkpoint (its card naming ``repo_id``) and upload it; returns the commit URL."""
    with tempfile.TemporaryDirectory(prefix="tshub-push-") as tmp:
        save_checkpoint(model, tmp, dtype=dtype, **{"repo_id": repo_id, **fields})
        return push_folder(tmp, repo_id, token=token, private=private, commit_message=commit_message,
                           revision=revision)
