"""Name → checkpoint folder, in this order: an existing folder, the local stores, then the Hub.

A name is a local folder, a model id ``"<SOURCE>/<arch>"`` (Hub repo ``<namespace>/<SOURCE>-<arch>``), or any
Hub repo id. A ``revision`` pins a Hub commit, branch or tag, so it skips the local stores. When nothing
resolves the name, ``ModelNotFoundError`` lists every place tried and how to fetch or build the checkpoint.
A model loaded from the Hub, or from a copy ``tshub pull`` made, records its repo and commit in ``model.meta``
(``"hub_repo"``, ``"revision"``), and its ``"id"`` names that repo when it is not the id's own, so a fine-tune names
the repo and commit it started from; saves write none of these facts of the load (``checkpoint.note_load``).
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from huggingface_hub.errors import (
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tshub.atomic import replace_folder
from tshub.data.catalogue import list_datasets
from tshub.hub.checkpoint import CONFIG_NAME, PULLED_NAME, load_checkpoint, note_load
from tshub.hub.errors import CheckpointError, InvalidModelIdError, ModelNotFoundError
from tshub.hub.ids import ModelId, as_model_id
from tshub.hub.remote import download, hub_endpoint, hub_offline, snapshot_commit, snapshot_repo
from tshub.hub.store import checkpoint_dir, home_store, list_pretrained, stores
from tshub.models.registry import list_architectures
from tshub.naming import closest

if TYPE_CHECKING:
    from tshub.models.base import TimeSeriesModel

_HUB_ERRORS = (HfHubHTTPError, LocalEntryNotFoundError, HFValidationError, OSError)


def load_pretrained(name: str | Path, revision: str | None = None, *, local_folders: bool = True) -> TimeSeriesModel:
    """The model of a checkpoint folder, model id (``"LEN-DB/magnet"``) or Hub repo id, ready to predict on raw data.

    ``model.meta["id"]`` is what fine-tunes name as their parent: the checkpoint's own id (a Hub repo other than
    that id's own, ``<namespace>/<SOURCE>-<arch>``, replaces it), else the id it was loaded by; a model from the
    Hub also records its repo (``"hub_repo"``) and commit (``"revision"``).
    ``local_folders=False`` never reads ``name`` as a folder (a service resolving ids that clients send).
    """
    return load_resolved(name, resolve(name, revision, local_folders=local_folders), local_folders=local_folders)


def load_resolved(name: str | Path, folder: Path, *, local_folders: bool = True) -> TimeSeriesModel:
    """``load_pretrained(name)`` from ``folder``, the checkpoint ``resolve(name)`` gave: for a caller that needs the
    folder too (a Hub id resolved twice is asked of the Hub twice, and may move in between)."""
    model = load_checkpoint(folder)
    commit = snapshot_commit(folder)
    repo = snapshot_repo(folder) if commit is not None else None
    facts = {"revision": commit} if commit is not None else {}
    if repo is not None:  # the repo a fine-tune must name beside this commit
        facts["hub_repo"] = repo
        own = as_model_id(str(model.meta.get("id", "")))
        if own is None or own.repo_id().casefold() != repo.casefold():  # not its id's own repo: a copy elsewhere
            facts["id"] = repo
    elif "id" not in model.meta and not (local_folders and Path(name).expanduser().is_dir()):
        model_id = as_model_id(str(name))
        facts["id"] = str(model_id) if model_id else str(name)
    note_load(model, facts)
    return model


def resolve(name: str | Path, revision: str | None = None, *, local_folders: bool = True) -> Path:
    """The checkpoint folder ``name`` refers to, downloading it from the Hub when no local copy exists.

    A folder ``name`` comes first (as in transformers' ``from_pretrained``); when a relative folder such as
    ``./GunPoint/fcn`` has the same spelling as a model id the stores hold, a warning says which one is used.
    ``local_folders=False`` skips folders altogether.
    """
    if not str(name).strip():  # Path("") is ".", the working directory: said as a folder that is no checkpoint
        raise InvalidModelIdError(
            f"an empty model name ({str(name)!r}): pass a model id such as 'GunPoint/fcn' (`tshub list` shows them), "
            "a checkpoint folder or a Hub repo id."
        )
    looked: list[str] = []
    model_id = as_model_id(str(name))
    folder = _existing_folder(Path(name).expanduser(), looked) if local_folders else None
    if folder is not None:
        _warn_if_shadowing(str(name), model_id, folder)
        return folder
    if model_id is not None and revision is None:
        for store in stores():
            found = store.find(model_id)
            if found is not None:
                return found
            looked.append(f"local store {store}: no {model_id}")
    elif model_id is not None:
        looked.append(f"local stores: skipped, revision={revision!r} pins a Hub commit")
    model_id, repos = _hub_candidates(str(name), model_id)
    downloaded = _download_first(repos, revision, looked)
    if downloaded is None:
        raise ModelNotFoundError(_not_found_message(str(name), model_id, looked))
    return downloaded[1]


def pull(name: str, revision: str | None = None) -> Path:
    """Download a checkpoint from the Hub into the HF cache, verified; a model id is also copied to the home store,
    with a record of the repo, the revision asked for and the commit (``pull_record``), which loads then report.

    Returns the home store folder of a model id, the cache's snapshot folder of any other repo id.
    """
    model_id, repos = _hub_candidates(name, as_model_id(name))
    failures: list[str] = []
    downloaded = _download_first(repos, revision, failures)
    if downloaded is None:
        raise ModelNotFoundError(f"cannot pull {name}: {'; '.join(failures)}.")
    repo_id, snapshot = downloaded
    load_checkpoint(snapshot)  # verifies format, hash and keys before anyone relies on the copy
    if model_id is None or repo_id != model_id.repo_id():
        return snapshot
    record = {"repo_id": repo_id, "revision": revision, "commit": snapshot_commit(snapshot)}

    def fill(staging: Path) -> None:  # the cache's links, followed: the copy owns its files
        shutil.copytree(snapshot, staging, dirs_exist_ok=True)
        (staging / PULLED_NAME).write_text(json.dumps(record) + "\n")

    return replace_folder(checkpoint_dir(home_store(), model_id), fill)


def known_sources() -> list[str]:
    """The sources tshub knows: those of the stores' checkpoints and their indexes, and the catalogue's datasets."""
    return [row["source"] for row in list_pretrained()] + [entry["name"] for entry in list_datasets()]


def _hub_candidates(name: str, model_id: ModelId | None) -> tuple[ModelId | None, list[str]]:
    """``model_id`` with its source spelled as the stores, their indexes or the catalogue spell it (sources match
    case-insensitively, but Hub repo names and HF cache folders are spelled one way), and the Hub repos ``name`` may
    be, in the order tried: a model id's own (``<namespace>/<SOURCE>-<arch>``), then, where tshub knows no such
    source, ``name`` itself, a repo whose second part is an architecture (``push_to_hub("alice/fcn")``). A known
    source's id never reads another namespace's repo."""
    if model_id is None:
        return None, [name]
    sources = known_sources()  # read once: it lists every store's checkpoints and the catalogue
    model_id = model_id.spelled_as(sources)
    if any(model_id.names_source(source) for source in sources):
        return model_id, [model_id.repo_id()]
    return model_id, [model_id.repo_id(), name]


def _download_first(repos: list[str], revision: str | None, failures: list[str]) -> tuple[str, Path] | None:
    """The first of ``repos`` the Hub gives at ``revision``, and its snapshot folder; each that fails adds its
    reason to ``failures``. None when all fail."""
    for repo_id in repos:
        try:
            return repo_id, download(repo_id, revision=revision)
        except _HUB_ERRORS as err:
            failures.append(
                f"Hugging Face Hub repo {repo_id} at {hub_endpoint()}"
                f"{f' (revision {revision})' if revision else ''}: {_hub_reason(err)}"
            )
    return None


def did_you_mean(name: str) -> list[str]:
    """Model ids close to ``name``, which nothing resolved: known checkpoints first, then ``name`` with its source
    and architecture corrected to a known source or catalogue dataset and a registered architecture."""
    known = [row["id"] for row in list_pretrained()]
    guesses = closest(name, known, n=2, cutoff=0.8)
    parts = name.strip().split("/")
    if len(parts) == 2 and all(parts):
        source, arch = parts
        sources = {row_id.split("/")[0] for row_id in known} | {entry["name"] for entry in list_datasets()}
        arch_guess = closest(arch.replace("-", "_"), list_architectures(), n=1)
        source_guess = closest(source, sources, n=1)
        if arch_guess and source_guess:
            guesses.append(f"{source_guess[0]}/{arch_guess[0]}")
    return [g for g in dict.fromkeys(guesses) if g.casefold() != name.strip().casefold()][:3]


def _warn_if_shadowing(name: str, model_id: ModelId | None, folder: Path) -> None:
    """Warn when a relative folder spelled like a model id hides the stores' checkpoint of that id."""
    if model_id is None or name.startswith((".", "/", "~")):
        return
    for store in stores():
        found = store.find(model_id)
        if found is not None and found.resolve() != folder.resolve():
            warnings.warn(
                f"{name!r} is both a folder here ({folder.resolve()}) and the model id of {found}; the "
                f"folder is used. Write './{name}' to mean the folder, or run from another directory "
                "to load the store's checkpoint.",
                stacklevel=3,
            )
            return


def _existing_folder(path: Path, looked: list[str]) -> Path | None:
    if path.is_file():
        owner = (
            f"pass its folder {path.parent}"
            if (path.parent / CONFIG_NAME).is_file()
            else "pass a folder written by save_pretrained, a model id or a Hub repo id"
        )
        raise CheckpointError(f"{path} is a file, not a checkpoint folder; {owner}.")
    if not path.is_dir():
        looked.append(f"local folder {path.resolve()}: does not exist")
        return None
    if not (path / CONFIG_NAME).is_file():
        raise CheckpointError(
            f"{path} is a folder but not a tshub checkpoint (no {CONFIG_NAME}); "
            "pass a folder written by save_pretrained, a model id or a Hub repo id."
        )
    return path


def _hub_reason(err: Exception) -> str:
    if isinstance(err, RepositoryNotFoundError):
        return (
            "no such repo, or it is private or gated (set HF_TOKEN, or log in with `hf auth login`, with a "
            "token that may read it)"
        )
    if isinstance(err, RevisionNotFoundError):
        return "the repo has no such revision"
    if isinstance(err, LocalEntryNotFoundError) and isinstance(err.__cause__, HfHubHTTPError):
        return (
            f"the Hub answered {_status(err.__cause__)} ({err.__cause__.server_message or 'no reason given'}) "
            "and the local Hugging Face cache does not have it"
        )
    if isinstance(err, LocalEntryNotFoundError):
        return (
            "not in the local Hugging Face cache and HF_HUB_OFFLINE is set"
            if hub_offline()
            else "the Hub could not be reached and the local Hugging Face cache does not have it"
        )
    if isinstance(err, HfHubHTTPError) and _status(err) == 401:
        return "the Hub refused the token (invalid or revoked): set HF_TOKEN to a valid one, or unset it"
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _status(err: HfHubHTTPError) -> int | None:
    return err.response.status_code if err.response is not None else None


def _not_found_message(name: str, model_id: ModelId | None, looked: list[str]) -> str:
    guesses = did_you_mean(name)
    lines = (
        [f"no checkpoint found for {name!r}; did you mean {' or '.join(map(repr, guesses))}? Looked in:"]
        if guesses
        else [f"no checkpoint found for {name!r}. Looked in:"]
    )
    lines += [f"  - {place}" for place in looked]
    if model_id is None:
        lines += [
            "Pass a checkpoint folder, a model id '<SOURCE>/<arch>' (see `tshub list`; architectures: "
            f"{', '.join(list_architectures())}) or a Hub repo id."
        ]
        return "\n".join(lines)
    home = checkpoint_dir(home_store(), model_id)
    lines += [
        "To get it:",
        f"  - fetch it: `tshub pull {model_id}` (needs the network"
        f"{': unset HF_HUB_OFFLINE' if hub_offline() else ''}), or copy a checkpoint "
        f"folder to {home}, or add a folder holding {model_id.source}/{model_id.arch}/ to $TSHUB_ZOO;",
    ]
    if any(model_id.names_source(entry["name"]) for entry in list_datasets()):
        lines += [
            f"  - build it from the {model_id.source} data: run scripts/publish for {model_id} (it trains, writes "
            f"zoo/{model_id.source}/{model_id.arch} and its card), or in Python:",
            f"      tshub.train_from_scratch({model_id.arch!r}, tshub.datasets.load({model_id.source!r}))"
            f".model.save_pretrained({str(home)!r})",
        ]
    else:
        lines += [
            f"  - or train one on your data: tshub.train_from_scratch({model_id.arch!r}, "
            f"Dataset.from_file(...)).model.save_pretrained({str(home)!r}) ({model_id.source!r} is no dataset "
            "of the catalogue: tshub.datasets.list_datasets())"
        ]
    return "\n".join(lines)
