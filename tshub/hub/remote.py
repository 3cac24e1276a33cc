"""Hugging Face Hub I/O: download a checkpoint snapshot, upload a checkpoint folder.

Why not ``huggingface_hub.ModelHubMixin``: one generic ``load_pretrained`` must rebuild *any* registered
architecture from config.json (the mixin calls ``cls(**config)`` on a fixed class), config.json carries more than
constructor kwargs (task, classes, preprocessing, provenance, hash, format version), loading verifies a hash and
keys strictly and casts shrunk weights back to float32, and ``"<SOURCE>/<arch>"`` ids resolve through local
stores before the Hub. So tshub keeps the mixin's method names and symmetry (``save_pretrained`` /
``from_pretrained`` / ``push_to_hub`` on the model) and uses huggingface_hub's primitives for everything that
touches the Hub: ``snapshot_download`` (its cache, revisions, offline mode), ``HfApi.verify_repo_checksums``,
``HfApi.create_repo`` / ``upload_folder``, and ``ModelCard`` / ``ModelCardData`` / ``EvalResult`` for the card
(see ``card``). Any Hub-compatible endpoint works, ``tshub serve`` included (``HF_ENDPOINT``).

The client checks a download's size, not its content: every file a download brings is checked against the
checksum its Hub lists for that commit, and a file that does not match is removed from the cache (else every
later load would find the corrupted copy and fail) before the error is raised. A repo with no config.json holds no
tshub checkpoint, and says so. A push checks that the folder loads before it creates a repo or uploads a file.

``HF_HUB_OFFLINE`` and ``HF_ENDPOINT`` are read when called, not only when huggingface_hub was imported.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
from huggingface_hub import HfApi, constants, get_token, snapshot_download
from huggingface_hub.errors import HfHubHTTPError

from tshub.hub.card import build_model_card, loadable_name
from tshub.hub.checkpoint import (
    CARD_NAME,
    CHECKPOINT_FILES,
    CONFIG_NAME,
    HISTORY_NAME,
    config_text,
    load_checkpoint,
    pull_record,
    save_checkpoint,
)
from tshub.hub.errors import CheckpointError, HubError
from tshub.version import __version__

if TYPE_CHECKING:
    from tshub.models.base import TimeSeriesModel

DEFAULT_COMMIT_MESSAGE = "Upload tshub checkpoint"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
log = logging.getLogger(__name__)


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set now or was set when huggingface_hub was imported."""
    return constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").upper() in constants.ENV_VARS_TRUE_VALUES


def hub_endpoint() -> str:
    """The Hub URL: ``$HF_ENDPOINT`` or huggingface_hub's default."""
    return os.environ.get("HF_ENDPOINT") or constants.ENDPOINT


def download(repo_id: str, *, revision: str | None = None) -> Path:
    """The checkpoint files of a Hub repo at ``revision``, through the HF cache, verified; offline: the cache only.

    Returns the cache's snapshot folder, named by the commit it holds (see ``snapshot_commit``).
    """
    folder = Path(
        snapshot_download(
            repo_id,
            revision=revision,
            local_files_only=hub_offline(),
            endpoint=hub_endpoint(),
            allow_patterns=list(CHECKPOINT_FILES),
            library_name="tshub",
            library_version=__version__,
        )
    )
    if not (folder / CONFIG_NAME).is_file() and hub_offline():  # the cache's copy, which the Hub did not vouch for
        raise CheckpointError(
            f"the local Hugging Face cache's copy of {repo_id} (commit {folder.name}) has no {CONFIG_NAME}, "
            "probably an interrupted download: unset HF_HUB_OFFLINE and pull it again (`tshub pull ID`), or delete "
            f"{folder}."
        )
    if not (folder / CONFIG_NAME).is_file():  # an empty repo, or one of files no checkpoint has: nothing came
        raise CheckpointError(
            f"Hub repo {repo_id} at {hub_endpoint()}{f' (revision {revision})' if revision else ''} holds no tshub "
            f"checkpoint: it has no {CONFIG_NAME}; check the repo id, or publish a checkpoint there with "
            "`tshub push` or model.push_to_hub."
        )
    if not hub_offline():
        verify_snapshot(repo_id, folder)
    return folder


def snapshot_commit(folder: Path) -> str | None:
    """The Hub commit a checkpoint folder holds: a folder of the HF cache is named by it (``.../snapshots/<commit>``),
    a copy ``tshub pull`` made records it (``pull_record``); None for any other folder."""
    if folder.parent.name == "snapshots" and _COMMIT.match(folder.name):
        return folder.name
    commit = pull_record(folder).get("commit")
    return commit if isinstance(commit, str) and _COMMIT.match(commit) else None


def snapshot_repo(folder: Path) -> str | None:
    """The Hub repo of a checkpoint folder that holds a Hub commit (``snapshot_commit``, which callers ask first): a
    snapshot of the HF cache lies in ``models--<namespace>--<name>`` (repo ids have no "--"), a copy ``tshub pull``
    made records it; else None."""
    cached = folder.parents[1].name if folder.parent.name == "snapshots" else ""
    if cached.startswith("models--"):
        return cached.removeprefix("models--").replace("--", "/")
    repo = pull_record(folder).get("repo_id")
    return repo if isinstance(repo, str) and repo else None


def verify_snapshot(repo_id: str, folder: Path) -> None:
    """Check every file of a cached snapshot against its Hub's checksums (sha256, or git blob id for small files).

    A file that does not match is deleted from the cache, with its blob, and CheckpointError says so. A Hub that
    cannot be reached, or refuses the repo (401, 404), only skips the check, with a warning saying which: one
    request without retries asks first, as the checksum listing retries for ~23 s on a dead Hub while
    ``snapshot_download`` already fell back to the cache (the weights' sha256 in config.json is still checked on
    load).
    """
    commit = snapshot_commit(folder)
    api = HfApi(endpoint=hub_endpoint())
    try:
        api.model_info(repo_id, revision=commit, timeout=constants.HF_HUB_ETAG_TIMEOUT)  # one attempt
        report = api.verify_repo_checksums(repo_id, revision=commit, cache_dir=folder.parents[2])
    except (HfHubHTTPError, httpx2.TransportError) as err:
        log.warning("%s", _unverified(repo_id, commit, err))
        return
    if not report.mismatches:
        return
    for mismatch in report.mismatches:
        cached = folder / mismatch["path"]
        blob = cached.resolve()
        cached.unlink(missing_ok=True)
        if blob != cached:
            blob.unlink(missing_ok=True)
    details = "; ".join(
        f"{m['path']}: {m['algorithm']} {m['actual']}, the Hub lists {m['expected']}" for m in report.mismatches
    )
    raise CheckpointError(
        f"corrupted download of {repo_id} at commit {commit} from {hub_endpoint()}: {details}. The corrupted "
        "files were removed from the Hugging Face cache; load again to download them afresh (if it fails again, "
        "the Hub's copy is damaged: tell its operator)."
    )


def _unverified(repo_id: str, commit: str | None, err: Exception) -> str:
    """Why a cached snapshot is loaded without the Hub's checksums: the Hub is down, failed, or refused the repo."""
    cached = f"loading the cached copy of {repo_id} at commit {commit}, unverified"
    status = err.response.status_code if isinstance(err, HfHubHTTPError) and err.response is not None else None
    if status == 401:
        return (
            f"the Hub at {hub_endpoint()} refused the token (401: invalid or revoked), so this token cannot see "
            f"{repo_id}; {cached}: set HF_TOKEN to a valid token (or unset it) to verify it."
        )
    if status in (403, 404):
        return (
            f"the Hub at {hub_endpoint()} refused {repo_id} ({status}: gone, or private and this token cannot see "
            f"it); {cached}: use a token that may read it to verify it."
        )
    if status is not None:
        return f"the Hub at {hub_endpoint()} failed ({status}: {err}); {cached} (the weights' sha256 is still checked)."
    return (
        f"the Hub at {hub_endpoint()} could not be reached ({err}); {cached} against the Hub's checksums (the "
        "weights' sha256 in config.json is still checked)."
    )


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str = DEFAULT_COMMIT_MESSAGE,
    revision: str | None = None,
) -> str:
    """Create the Hub repo if needed and upload the checkpoint files of ``folder``; returns the commit URL.

    The folder must be a whole checkpoint that loads (``check_pushable``). A training history the repo holds is
    deleted unless ``folder`` has one (an uploaded file is never deleted): the history of an earlier push must not
    stay beside other weights, as ``save_checkpoint`` ensures locally. Offline, without a token (every Hub refuses
    an anonymous push), or when the Hub cannot be reached, ``HubError`` names the Hub and what to do; the Hub's own
    refusals (403: another's namespace) stay ``HfHubHTTPError``.
    """
    check_pushable(Path(folder))
    refuse_push_that_cannot_be_made(token, repo_id)
    where = _cannot_push_to(repo_id)
    api = HfApi(endpoint=hub_endpoint(), token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        with _naming_its_repo(Path(folder), repo_id) as uploaded:
            commit = api.upload_folder(
                repo_id=repo_id,
                folder_path=str(uploaded),
                commit_message=commit_message,
                revision=revision,
                allow_patterns=list(CHECKPOINT_FILES),
                delete_patterns=[HISTORY_NAME],
            )
    except httpx2.TransportError as err:  # no answer at all: no network, a wrong HF_ENDPOINT, a Hub that is down
        raise HubError(f"{where}: the Hub could not be reached ({err}); check the network and HF_ENDPOINT.") from None
    return commit.commit_url


class PushRefused(HubError):
    """No push can be made from here (offline, or no token): a batch of pushes stops at the first."""


def refuse_push_that_cannot_be_made(token: str | None = None, repo_id: str | None = None) -> None:
    """``PushRefused`` when no push can be made, offline or without a token (every Hub refuses an anonymous push),
    before the Hub is called (and before hours of building, ``build_zoo --push``)."""
    where = _cannot_push_to(repo_id)
    if hub_offline():
        raise PushRefused(
            f"{where}: HF_HUB_OFFLINE is set; unset it (and log in with `hf auth login` or pass token=) to upload."
        )
    if token is None and get_token() is None:
        raise PushRefused(
            f"{where}: no Hub token, and a Hub takes no anonymous push; log in with `hf auth login`, set HF_TOKEN "
            "or pass token=."
        )


def _cannot_push_to(repo_id: str | None) -> str:
    """The start of a push's error messages: the repo and the Hub it was meant for."""
    return f"cannot push to {repo_id + ' at ' if repo_id else ''}{hub_endpoint()}"


@contextmanager
def _naming_its_repo(folder: Path, repo_id: str) -> Iterator[Path]:
    """``folder``, or a copy whose config and card name ``repo_id`` where the folder's would send a reader elsewhere:
    pushed to another repo than its id's own (``--namespace``, ``--repo-id``) its card's ``load_pretrained("ID")``
    would fetch the tshub zoo's checkpoint, and without an id it says "path/to/checkpoint". What follows the generated
    card (the zoo's per-head table) is kept; a card edited by hand is uploaded as it is."""
    text = (folder / CONFIG_NAME).read_text()
    config = json.loads(text)
    named = {**config, "repo_id": repo_id}
    if loadable_name(named) == loadable_name(config):
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="tshub-push-") as tmp:
        staged = Path(tmp)
        for name in CHECKPOINT_FILES:
            if (folder / name).is_file():
                shutil.copyfile(folder / name, staged / name)
        card, generated = (folder / CARD_NAME).read_text(), str(build_model_card(config))
        if card.startswith(generated):
            (staged / CARD_NAME).write_text(str(build_model_card(named)) + card[len(generated) :])
        (staged / CONFIG_NAME).write_text(config_text(named))
        yield staged


def check_pushable(folder: Path) -> None:
    """Refuse a folder that is no whole checkpoint, before any repo is created or file uploaded: a push uploads the
    files it has, so a corrupted one would be published, and one without weights or card would sit beside the
    repo's older ones."""
    try:
        if not (folder / CARD_NAME).is_file():
            raise CheckpointError(f"{folder} has no {CARD_NAME} (its model card); re-save it with save_pretrained.")
        load_checkpoint(folder)  # format, schema, weights' hash and every key
    except CheckpointError as err:
        raise CheckpointError(f"cannot push {folder}, nothing was uploaded: {err}") from None


def push_to_hub(
    model: TimeSeriesModel,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str = DEFAULT_COMMIT_MESSAGE,
    revision: str | None = None,
    dtype: str = "float32",
    **fields: Any,
) -> str:
    """Save ``model`` as a checkpoint (its card naming ``repo_id``) and upload it; returns the commit URL."""
    with tempfile.TemporaryDirectory(prefix="tshub-push-") as tmp:
        save_checkpoint(model, tmp, dtype=dtype, **{"repo_id": repo_id, **fields})
        return push_folder(tmp, repo_id, token=token, private=private, commit_message=commit_message, revision=revision)
