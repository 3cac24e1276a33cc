"""Downloading and publishing for real: the official huggingface_hub client against a live ``tshub serve``.

One server process (API only) on loopback serves every test; each test publishes its own repos with tokens of
the server's own tenants, and downloads into a fresh Hugging Face cache. Nothing here is monkeypatched but the
client's module-level settings (endpoint, cache folder, offline flag), which a user sets with HF_* variables;
the fresh-client test sets exactly those variables in a new process.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from huggingface_hub import CommitOperationAdd, HfApi, ModelCard, constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError
from huggingface_hub.utils.sha import git_hash

import tshub
from server.app import create_app
from server.auth import create_token
from server.config import Settings
from server.db import open_store
from server.testing import LiveServer, free_port, service_env
from tshub.cli import main
from tshub.data.preprocess import ZNormalize
from tshub.data.splits import random_split
from tshub.hub import CheckpointError, ModelNotFoundError, load_pretrained, push_folder
from tshub.hub.checkpoint import CARD_NAME, CONFIG_NAME, HISTORY_NAME, WEIGHTS_NAME
from tshub.hub.history import TrainingHistory
from tshub.hub.store import home_store
from tshub.models import build_model
from tshub.models.base import TimeSeriesModel

ROOT = Path(__file__).resolve().parents[1]
SLOW = 60  # seconds: HTTP timeouts for a server sharing two busy cores (HF_HUB_ETAG_TIMEOUT and friends too)
PROBE = torch.linspace(-2, 2, 64).reshape(1, 1, 64)
CLIENT = """
import json, sys, torch, tshub
model = tshub.load_pretrained(sys.argv[1])
with torch.no_grad():
    out = model(torch.linspace(-2, 2, 64).reshape(1, 1, 64))
print(json.dumps({"revision": model.meta.get("revision"), "out": out.tolist()}))
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A running ``tshub serve --role api`` and a token for each of its tenants."""
    home = tmp_path_factory.mktemp("hub_server")
    server = LiveServer(service_env(home, []), home / "server.log", role="api").launch()
    try:
        server.wait_ready(120)
        Session = open_store(f"sqlite:///{home / 'server' / 'tshub.db'}")  # the server's database, as the CLI does
        tokens = {name: create_token(Session, name)[1] for name in ("tshub", "alice", "bob", "Wafer")}
        yield SimpleNamespace(
            url=server.url, tokens=tokens, blobs=home / "server" / "storage" / "hub" / "blobs", server=server
        )
    finally:
        server.stop()


@pytest.fixture
def client(hub: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process as a fresh user of the server: HF_ENDPOINT set, online, an empty cache, no stored token."""
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("TSHUB_NAMESPACE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)  # what HF_ENDPOINT sets when huggingface_hub is imported
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf_token"))
    monkeypatch.setattr(constants, "HF_HUB_ETAG_TIMEOUT", SLOW)
    monkeypatch.setattr(constants, "HF_HUB_DOWNLOAD_TIMEOUT", SLOW)
    return tmp_path / "hf_cache"


def small_fcn(seed: int) -> TimeSeriesModel:
    torch.manual_seed(seed)
    model = build_model("fcn", 1, 2, filters=(8, 16, 8))
    model.task, model.classes, model.preprocessor = "classification", ["1", "2"], ZNormalize()
    model.meta = {"source_dataset": "GunPoint", "metrics": {"accuracy": 0.5 + seed / 100}}
    return model.eval()


def toy_target() -> tshub.Dataset:
    """A two-class target of 40 random series, split, for one-epoch fine-tunes."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 1, 64)).astype(np.float32), np.array([str(i % 2) for i in range(40)])
    return random_split(tshub.Dataset.from_arrays(X, y, name="toy"))


def outputs(model: TimeSeriesModel) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(PROBE)


def server_blob(hub: SimpleNamespace, content: bytes) -> Path:
    digest = hashlib.sha256(content).hexdigest()
    return hub.blobs / digest[:2] / digest


def run_client(env: dict[str, str], cwd: Path, name: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, name], env=env, cwd=cwd, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------ download
def test_download_verify_cache_hit_and_offline_reuse_in_a_fresh_client(hub, client, tmp_path):
    model = small_fcn(0)
    model.push_to_hub("tshub/GunPoint-fcn", token=hub.tokens["tshub"], id="GunPoint/fcn")
    info = HfApi(endpoint=hub.url).model_info("tshub/GunPoint-fcn", files_metadata=True)
    assert info.library_name == "tshub" and "time-series" in info.tags
    assert sorted(s.rfilename for s in info.siblings) == [CARD_NAME, CONFIG_NAME, WEIGHTS_NAME]

    # the official client, standard cache layout, checksums the Hub lists
    snapshot = Path(snapshot_download("tshub/GunPoint-fcn"))
    assert snapshot == client / "models--tshub--GunPoint-fcn" / "snapshots" / info.sha
    assert (client / "models--tshub--GunPoint-fcn" / "refs" / "main").read_text() == info.sha
    report = HfApi(endpoint=hub.url).verify_repo_checksums("tshub/GunPoint-fcn", revision=info.sha)
    assert report.checked_count == 3 and not report.mismatches
    assert json.loads((snapshot / CONFIG_NAME).read_text())["repo_id"] == "tshub/GunPoint-fcn"

    loaded = load_pretrained("GunPoint/fcn")
    assert torch.equal(outputs(loaded), outputs(model)) and loaded.meta["revision"] == info.sha

    # a cache hit downloads nothing: the server's copy of the weights is damaged now, and the load still works
    weights = server_blob(hub, (snapshot / WEIGHTS_NAME).read_bytes())
    original = weights.read_bytes()
    weights.write_bytes(original[:-64] + bytes(64))
    try:
        assert torch.equal(outputs(load_pretrained("GunPoint/fcn")), outputs(model))
    finally:
        weights.write_bytes(original)

    # a fresh process without the repository's zoo: downloads into its own standard cache, then reuses it offline
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(tmp_path / "fresh_hf"),
        "HF_HUB_OFFLINE": "0",
        "TSHUB_HOME": str(tmp_path / "fresh_tshub"),
        "TSHUB_REPO_ZOO": "",
        "PYTHONPATH": str(ROOT),
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_ETAG_TIMEOUT": str(SLOW),
        "HF_HUB_DOWNLOAD_TIMEOUT": str(SLOW),
    }
    env.pop("HF_HUB_CACHE", None)
    (tmp_path / "elsewhere").mkdir()
    online = run_client(env, tmp_path / "elsewhere", "GunPoint/fcn")
    assert online["revision"] == info.sha and torch.allclose(torch.tensor(online["out"]), outputs(model))
    assert (tmp_path / "fresh_hf" / "hub" / "models--tshub--GunPoint-fcn" / "snapshots" / info.sha).is_dir()
    dead = f"http://127.0.0.1:{free_port()}"  # offline means offline: nothing answers there anyway
    offline = run_client({**env, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": dead}, tmp_path / "elsewhere", "GunPoint/fcn")
    assert offline == online


def test_the_training_history_is_pushed_and_downloaded_with_the_checkpoint(hub, client):
    model = small_fcn(9)
    model.training_history = TrainingHistory.from_records(
        [
            {"epoch": e, "loss": 1 / e, "val_loss": 1.2 / e, "val_accuracy": 0.5 + e / 10, "lr": {"all": 1e-3}}
            for e in (1, 2, 3)
        ],
        best_epoch=2,
        stop_reason="early_stopping",
    )
    model.push_to_hub("tshub/Yoga-fcn", token=hub.tokens["tshub"], id="Yoga/fcn")
    info = HfApi(endpoint=hub.url).model_info("tshub/Yoga-fcn")
    assert HISTORY_NAME in [s.rfilename for s in info.siblings]
    loaded = load_pretrained("Yoga/fcn")
    assert loaded.training_history == model.training_history and torch.equal(outputs(loaded), outputs(model))


def test_a_push_without_a_history_deletes_the_one_an_earlier_push_left(hub, client):
    """Failed before the fix: the upload kept the repo's old training_history.json beside the new weights."""
    trained = small_fcn(12)
    trained.training_history = TrainingHistory.from_records(
        [{"epoch": 1, "loss": 1.0, "val_loss": 1.1, "lr": {"all": 1e-3}}], best_epoch=1, stop_reason="max_epochs"
    )
    trained.push_to_hub("tshub/Plane-fcn", token=hub.tokens["tshub"], id="Plane/fcn")
    other = small_fcn(13)
    other.push_to_hub("tshub/Plane-fcn", token=hub.tokens["tshub"], id="Plane/fcn")
    info = HfApi(endpoint=hub.url).model_info("tshub/Plane-fcn")
    assert sorted(s.rfilename for s in info.siblings) == [CARD_NAME, CONFIG_NAME, WEIGHTS_NAME]
    loaded = load_pretrained("Plane/fcn")
    assert loaded.training_history is None and torch.equal(outputs(loaded), outputs(other))
    trained.push_to_hub("tshub/Plane-fcn", token=hub.tokens["tshub"], id="Plane/fcn")  # a history is uploaded again
    assert load_pretrained("Plane/fcn").training_history == trained.training_history


def test_revisions_are_immutable_main_moves_and_a_sha_pins(hub, client, tmp_path):
    v1, v2 = small_fcn(1), small_fcn(2)
    first = v1.push_to_hub("tshub/Coffee-fcn", token=hub.tokens["tshub"], id="Coffee/fcn").rsplit("/", 1)[-1]
    second = v2.push_to_hub("tshub/Coffee-fcn", token=hub.tokens["tshub"], id="Coffee/fcn").rsplit("/", 1)[-1]
    assert first != second
    api = HfApi(endpoint=hub.url)
    assert [c.commit_id for c in api.list_repo_commits("tshub/Coffee-fcn")][:2] == [second, first]
    assert api.list_repo_refs("tshub/Coffee-fcn").branches[0].target_commit == second

    latest = load_pretrained("Coffee/fcn")
    assert latest.meta["revision"] == second and torch.equal(outputs(latest), outputs(v2))
    pinned = load_pretrained("Coffee/fcn", revision=first)
    assert pinned.meta["revision"] == first and torch.equal(outputs(pinned), outputs(v1))
    assert load_pretrained("Coffee/fcn", revision=first[:10]).meta["revision"] == first  # a short sha resolves
    with pytest.raises(ModelNotFoundError, match="no such revision"):
        load_pretrained("Coffee/fcn", revision="v9")
    with pytest.raises(RevisionNotFoundError):
        api.model_info("tshub/Coffee-fcn", revision="0" * 40)

    # a fine-tune of a pinned parent names that commit, and the repo it belongs to, on its card
    tuned = pinned.finetune(toy_target(), lr_multiplier=1.0, max_epochs=1, progress=False)
    card = (tuned.model.save_pretrained(tmp_path / "tuned") / CARD_NAME).read_text()
    assert f"Fine-tuned from `Coffee/fcn` (Hub repo `tshub/Coffee-fcn`) at Hub revision `{first}`." in card


def test_a_private_repo_is_invisible_to_other_tenants_and_tokens_are_checked(hub, client, monkeypatch):
    secret = small_fcn(3)
    secret.push_to_hub("alice/secret-fcn", token=hub.tokens["alice"], private=True)
    alice, bob = (HfApi(endpoint=hub.url, token=hub.tokens[n]) for n in ("alice", "bob"))
    assert alice.model_info("alice/secret-fcn").private is True
    for api in (bob, HfApi(endpoint=hub.url, token=False)):
        with pytest.raises(RepositoryNotFoundError):
            api.model_info("alice/secret-fcn")
    head = httpx.head(
        f"{hub.url}/alice/secret-fcn/resolve/main/{CONFIG_NAME}",
        headers={"Authorization": f"Bearer {hub.tokens['bob']}"},
        timeout=SLOW,
    )
    assert head.status_code == 404 and head.headers["X-Error-Code"] == "RepoNotFound"  # the same as a missing repo

    monkeypatch.setenv("HF_TOKEN", "tshub_not-a-token")
    with pytest.raises(ModelNotFoundError, match="refused the token"):
        load_pretrained("alice/secret-fcn")
    monkeypatch.setenv("HF_TOKEN", hub.tokens["bob"])
    with pytest.raises(ModelNotFoundError, match="(?s)alice/secret-fcn.*no such repo, or it is private"):
        load_pretrained("alice/secret-fcn")
    with pytest.raises(HfHubHTTPError, match="403"):  # bob can neither create a repo in alice's namespace ...
        small_fcn(4).push_to_hub("alice/bobs-fcn")
    small_fcn(5).push_to_hub("alice/open-fcn", token=hub.tokens["alice"])
    with pytest.raises(HfHubHTTPError, match="403"):  # ... nor commit to her public repo
        small_fcn(6).push_to_hub("alice/open-fcn")
    assert load_pretrained("alice/open-fcn").meta["revision"]  # but he reads it

    monkeypatch.setenv("HF_TOKEN", hub.tokens["alice"])
    assert torch.equal(outputs(load_pretrained("alice/secret-fcn")), outputs(secret))


def test_a_checkpoint_pushed_to_another_repo_than_its_id_s_names_that_repo_in_its_card(hub, client, tmp_path):
    """Regression: a folder pushed to ``team/Adiac-fcn`` (``tshub push --namespace team``, or ``--repo-id``) kept a card
    saying ``tshub.load_pretrained("Adiac/fcn")``, which fetches the tshub zoo's checkpoint, not this one; a folder
    without an id said "path/to/checkpoint". A push to the id's own repo uploads the folder as it is."""
    api = HfApi(endpoint=hub.url, token=hub.tokens["alice"])
    folder = small_fcn(12).save_pretrained(tmp_path / "adiac", id="Adiac/fcn")
    folder_files = {name: (folder / name).read_bytes() for name in (CARD_NAME, CONFIG_NAME, WEIGHTS_NAME)}
    push_folder(folder, "team/Adiac-fcn", token=hub.tokens["alice"])
    card = Path(hf_hub_download("team/Adiac-fcn", CARD_NAME, endpoint=hub.url, token=hub.tokens["alice"])).read_text()
    assert 'tshub.load_pretrained("team/Adiac-fcn")' in card and 'load_pretrained("Adiac/fcn")' not in card
    config = json.loads(Path(hf_hub_download("team/Adiac-fcn", CONFIG_NAME, endpoint=hub.url)).read_text())
    assert config["repo_id"] == "team/Adiac-fcn" and config["id"] == "Adiac/fcn"
    assert {name: (folder / name).read_bytes() for name in folder_files} == folder_files  # the local folder as it was
    assert torch.equal(outputs(load_pretrained("team/Adiac-fcn")), outputs(small_fcn(12)))
    push_folder(folder, "team/Adiac-fcn", token=hub.tokens["alice"])  # the same staged files: no new commit
    assert len(api.list_repo_commits("team/Adiac-fcn")) == 2
    anonymous = small_fcn(13).save_pretrained(tmp_path / "mine")
    push_folder(anonymous, "alice/mine", token=hub.tokens["alice"])
    card = Path(hf_hub_download("alice/mine", CARD_NAME, endpoint=hub.url, token=hub.tokens["alice"])).read_text()
    assert 'tshub.load_pretrained("alice/mine")' in card and "path/to/checkpoint" not in card
    own = small_fcn(14).save_pretrained(tmp_path / "meat", id="Meat/fcn")
    push_folder(own, "tshub/Meat-fcn", token=hub.tokens["tshub"])
    pushed = Path(hf_hub_download("tshub/Meat-fcn", CONFIG_NAME, endpoint=hub.url)).read_bytes()
    assert pushed == (own / CONFIG_NAME).read_bytes()


def test_a_corrupted_download_is_detected_and_not_kept_in_the_cache(hub, client, tmp_path):
    """Failed before the fix: the client checks sizes only, so the damaged weights stayed in the cache and every
    later load failed on the weights' hash, even once the server's copy was sound again."""
    model = small_fcn(7)
    folder = model.save_pretrained(tmp_path / "beef", id="Beef/fcn")
    push_folder(folder, "tshub/Beef-fcn", token=hub.tokens["tshub"])
    original = (folder / WEIGHTS_NAME).read_bytes()
    weights = server_blob(hub, original)
    weights.write_bytes(original[:100] + bytes(b ^ 0xFF for b in original[100:110]) + original[110:])
    try:
        with pytest.raises(CheckpointError, match=f"(?s)corrupted download of tshub/Beef-fcn.*{WEIGHTS_NAME}"):
            load_pretrained("Beef/fcn")
        repo = client / "models--tshub--Beef-fcn"
        assert not list(repo.rglob(WEIGHTS_NAME)) and not (repo / "blobs" / git_hash(original)).exists()
    finally:
        weights.write_bytes(original)
    assert torch.equal(outputs(load_pretrained("Beef/fcn")), outputs(model))


def test_server_errors_map_to_the_clear_tshub_message(hub, client, monkeypatch):
    with pytest.raises(ModelNotFoundError) as err:
        load_pretrained("Wine/fcn")
    message = str(err.value)
    assert "tshub/Wine-fcn" in message and hub.url in message and "no such repo" in message
    assert "tshub pull Wine/fcn" in message

    small_fcn(8).push_to_hub("tshub/Wine-fcn", token=hub.tokens["tshub"], id="Wine/fcn")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # the server is gone
    with pytest.raises(ModelNotFoundError, match="could not be reached and the local Hugging Face cache does not"):
        load_pretrained("Wine/fcn")


# ------------------------------------------------------------------------------------------------ protocol
def test_file_metadata_ranges_and_missing_entries_as_the_hub_serves_them(hub, client):
    model = small_fcn(9)
    model.push_to_hub("tshub/Ham-fcn", token=hub.tokens["tshub"], id="Ham/fcn")
    api = HfApi(endpoint=hub.url)
    sha = api.model_info("tshub/Ham-fcn").sha
    files = {f.path: f for f in api.list_repo_tree("tshub/Ham-fcn", revision=sha)}
    url = f"{hub.url}/tshub/Ham-fcn/resolve/main/{WEIGHTS_NAME}"
    head = httpx.head(url, headers={"Accept-Encoding": "identity"}, timeout=SLOW)
    assert head.status_code == 200 and head.headers["X-Repo-Commit"] == sha
    assert head.headers["ETag"] == f'"{files[WEIGHTS_NAME].blob_id}"'
    assert int(head.headers["Content-Length"]) == files[WEIGHTS_NAME].size
    whole = httpx.get(url, timeout=SLOW).content
    tail = httpx.get(url, headers={"Range": "bytes=1000-"}, timeout=SLOW)
    assert tail.status_code == 206 and tail.content == whole[1000:]
    missing = httpx.head(f"{hub.url}/tshub/Ham-fcn/resolve/{sha}/nothing.bin", timeout=SLOW)
    assert missing.status_code == 404 and missing.headers["X-Error-Code"] == "EntryNotFound"
    assert missing.headers["X-Repo-Commit"] == sha  # the client caches that the file does not exist there


def test_list_models_filters_by_tag_and_sorts_as_the_hub_does(hub, client):
    """Failed before the fix: the server ignored ``filter`` (every repo matched any tag, an unknown one too) and
    ``sort`` (always the most recently created first, also for ``sort="last_modified"``)."""
    token = hub.tokens["alice"]
    api = HfApi(endpoint=hub.url, token=token)
    small_fcn(20).push_to_hub("lister/GunPoint-fcn", token=token)
    api.create_repo("lister/plain")
    api.upload_file(path_or_fileobj=b"notes", path_in_repo="notes.txt", repo_id="lister/plain")
    small_fcn(21).push_to_hub("lister/GunPoint-fcn", token=token)  # modified after plain was created

    def listed(**query: object) -> list[str]:
        return [m.id for m in api.list_models(author="lister", **query)]

    assert listed(filter="fcn") == listed(filter=["tshub", "dataset:GunPoint"]) == ["lister/GunPoint-fcn"]
    assert listed(filter="no-such-tag") == []
    assert listed(sort="created_at") == listed() == ["lister/plain", "lister/GunPoint-fcn"]
    assert listed(sort="last_modified") == ["lister/GunPoint-fcn", "lister/plain"]


def test_settings_this_hub_lacks_are_refused_not_ignored(hub, client):
    """Failed before the fix: ``update_repo_settings(gated="manual")`` answered 200 and changed nothing, so a repo
    its owner believed gated stayed open to everyone."""
    api = HfApi(endpoint=hub.url, token=hub.tokens["alice"])
    api.create_repo("alice/gate-me")
    with pytest.raises(HfHubHTTPError, match="(?s)501.*gated"):
        api.update_repo_settings("alice/gate-me", gated="manual")
    api.update_repo_settings("alice/gate-me", gated=False)  # what every repo here is
    api.update_repo_settings("alice/gate-me", private=True)
    assert api.model_info("alice/gate-me").private is True


@pytest.mark.parametrize("body", [{"visibility": "privat"}, {"visibility": "Private"}, {"private": "false"}])
def test_a_visibility_that_is_neither_public_nor_private_is_a_400(hub, client, body):
    """Failed before the fix: a misspelt ``visibility`` made the repo public, and ``"private": "false"`` (text, from
    curl) private; what the owner asked for is unknown, so neither the creation nor the change happens."""
    auth = {"Authorization": f"Bearer {hub.tokens['alice']}"}
    created = httpx.post(f"{hub.url}/api/repos/create", json={"name": "vis", **body}, headers=auth, timeout=SLOW)
    assert created.status_code == 400 and "visibility" in created.headers["X-Error-Message"], created.text
    api = HfApi(endpoint=hub.url, token=hub.tokens["alice"])
    assert not api.repo_exists("alice/vis")
    api.create_repo("alice/vis-change", private=True, exist_ok=True)
    changed = httpx.put(f"{hub.url}/api/models/alice/vis-change/settings", json=body, headers=auth, timeout=SLOW)
    assert changed.status_code == 400 and api.model_info("alice/vis-change").private is True


def test_dataset_and_space_repos_are_not_found_saying_this_hub_serves_models(hub, client):
    """Failed before the fix: a bare 404, which hf_hub_download reported as a lost connection and repo_exists raised
    instead of answering False."""
    api = HfApi(endpoint=hub.url)
    for kind in ("dataset", "space"):
        assert api.repo_exists("alice/anything", repo_type=kind) is False
        with pytest.raises(RepositoryNotFoundError, match="model repos only"):
            hf_hub_download("alice/anything", "data.csv", repo_type=kind)


def test_a_card_validates_without_a_token_as_the_client_asks(hub, client):
    """Failed before the fix: validate-yaml, which ``ModelCard.validate`` calls without a token (the Hub answers
    anyone), was a 401, so ``metadata_update`` and ``ModelCard.push_to_hub`` always failed; it also parsed on the
    event loop, every request waiting meanwhile, metadata of any size (2 MB: tens of seconds)."""
    ModelCard("---\nlicense: mit\n---\n# card\n").validate()
    with pytest.raises(ValueError, match="metadata block of README.md is over 64 KiB"):
        ModelCard("---\na: [" + "1," * 40_000 + "1]\n---\n# card\n").validate()


def test_a_pull_request_revision_is_a_revision_not_found(hub, client):
    """Failed before the fix: ``refs/pr/1`` (this hub has no pull requests) answered model_info and list_repo_commits
    with a bare 404, which snapshot_download reported as a lost connection."""
    small_fcn(23).push_to_hub("alice/refs-fcn", token=hub.tokens["alice"])
    api = HfApi(endpoint=hub.url)
    for ask in (api.model_info, api.list_repo_commits, snapshot_download):
        with pytest.raises(RevisionNotFoundError, match="refs/pr/1"):
            ask("alice/refs-fcn", revision="refs/pr/1")


def test_a_full_ref_name_is_the_branch_it_names(hub, client):
    """Failed before the fix: ``refs/heads/main``, the full name the Hub takes as a revision (and
    ``list_repo_refs`` answers with), was no revision here: RevisionNotFoundError."""
    small_fcn(24).push_to_hub("alice/heads-fcn", token=hub.tokens["alice"])
    api = HfApi(endpoint=hub.url)
    head = api.model_info("alice/heads-fcn").sha
    assert [ref.ref for ref in api.list_repo_refs("alice/heads-fcn").branches] == ["refs/heads/main"]
    assert api.model_info("alice/heads-fcn", revision="refs/heads/main").sha == head
    assert Path(snapshot_download("alice/heads-fcn", revision="refs/heads/main")).name == head
    with pytest.raises(RevisionNotFoundError, match="refs/tags/main"):
        api.model_info("alice/heads-fcn", revision="refs/tags/main")  # a branch is no tag


# ------------------------------------------------------------------------------------------------ publishing
def test_a_repo_named_like_a_model_id_loads_unless_its_source_is_one_tshub_knows(
    hub, client, monkeypatch, capsys, shared_data
):  # Wafer is a source tshub knows from the catalogue, which reads the real data
    """Regression: ``push_to_hub("alice/fcn")`` then ``load_pretrained("alice/fcn")`` failed: a repo whose second
    part is an architecture read as the model id of a source 'alice', looked up as tshub/alice-fcn only. An unknown
    source's name is tried as a repo id next; a known source's id never reads another namespace's repo."""
    monkeypatch.setenv("HF_TOKEN", hub.tokens["alice"])
    small_fcn(20).push_to_hub("alice/fcn")
    assert torch.equal(outputs(load_pretrained("alice/fcn")), outputs(small_fcn(20)))
    assert main(["pull", "alice/fcn"]) == 0 and "alice" in capsys.readouterr().out
    with pytest.raises(ModelNotFoundError, match="tshub/alice-tcn") as found:
        load_pretrained("alice/tcn")  # neither tshub/alice-tcn nor alice/tcn: both are said
    assert "repo alice/tcn at" in str(found.value)
    small_fcn(21).push_to_hub("Wafer/fcn", token=hub.tokens["Wafer"])  # a tenant named like a UCR dataset
    with pytest.raises(ModelNotFoundError, match="tshub/Wafer-fcn") as found:
        load_pretrained("Wafer/fcn")  # the zoo's id, whose repo is not published here
    assert "repo Wafer/fcn at" not in str(found.value)


def test_tshub_push_publishes_the_local_store_and_pull_fetches_it(hub, client, tmp_path, monkeypatch, capsys):
    store = tmp_path / "team_zoo"
    monkeypatch.setenv("TSHUB_ZOO", str(store))
    monkeypatch.setenv("TSHUB_NAMESPACE", "lab")
    small_fcn(10).save_pretrained(store / "Adiac" / "fcn", id="Adiac/fcn")
    small_fcn(11).save_pretrained(store / "Lightning2" / "fcn", id="Lightning2/fcn")

    assert main(["push", "--all"]) == 1  # no token: refused once, not once per checkpoint (134 lines for the zoo)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.count("FAILED") == 1 and "no Hub token" in err and hub.url in err
    monkeypatch.setenv("HF_TOKEN", hub.tokens["alice"])
    assert main(["push", "--all", "--private"]) == 0
    pushed = capsys.readouterr().out
    assert "Adiac/fcn -> lab/Adiac-fcn" in pushed and "Lightning2/fcn -> lab/Lightning2-fcn" in pushed
    assert main(["push", "Adiac/fcn"]) == 0 and "lab/Adiac-fcn" in capsys.readouterr().out  # unchanged: no commit
    assert len(HfApi(endpoint=hub.url, token=hub.tokens["alice"]).list_repo_commits("lab/Adiac-fcn")) == 2

    monkeypatch.delenv("TSHUB_ZOO")
    assert main(["pull", "Adiac/fcn"]) == 0
    folder = home_store().root / "Adiac" / "fcn"
    assert capsys.readouterr().out.strip() == str(folder) and not (folder / WEIGHTS_NAME).is_symlink()
    loaded = load_pretrained("Adiac/fcn")  # from the home store now, still knowing its commit (lost before the fix)
    commits = [
        c.commit_id for c in HfApi(endpoint=hub.url, token=hub.tokens["alice"]).list_repo_commits("lab/Adiac-fcn")
    ]
    assert torch.equal(outputs(loaded), outputs(small_fcn(10))) and loaded.meta["revision"] == commits[0]
    assert main(["info", "Adiac/fcn"]) == 0 and f"{commits[0]} (Hub commit)" in capsys.readouterr().out

    # a pinned pull shadows main locally: listings say which commit, and which revision was asked for
    small_fcn(14).push_to_hub("lab/Adiac-fcn", token=hub.tokens["alice"], id="Adiac/fcn")  # main moves on
    assert main(["pull", "Adiac/fcn", "--revision", commits[0]]) == 0 and capsys.readouterr()
    assert main(["list", "--json"]) == 0
    row = next(r for r in json.loads(capsys.readouterr().out) if r["id"] == "Adiac/fcn")
    assert row["revision"] == row["pulled_revision"] == commits[0] and row["location"] == str(folder)
    assert load_pretrained("Adiac/fcn").meta["revision"] == commits[0]
    small_fcn(12).save_pretrained(folder)  # a re-save is no longer that commit
    assert "revision" not in load_pretrained("Adiac/fcn").meta
    monkeypatch.setenv("HF_TOKEN", hub.tokens["bob"])
    assert main(["pull", "Lightning2/fcn"]) == 1
    assert "no such repo, or it is private" in capsys.readouterr().err


def test_concurrent_pushes_to_one_branch_all_land(hub, client):
    """Commits move the branch by compare-and-swap: none overwrites another's files, none is lost."""
    api = HfApi(endpoint=hub.url, token=hub.tokens["bob"])
    api.create_repo("bob/many")

    def upload(i: int) -> str:
        return api.upload_file(
            path_or_fileobj=f"file {i}\n".encode(),
            path_in_repo=f"part-{i}.txt",
            repo_id="bob/many",
            commit_message=f"part {i}",
        ).oid

    with ThreadPoolExecutor(6) as pool:
        made = list(pool.map(upload, range(6)))
    history = [c.commit_id for c in api.list_repo_commits("bob/many")]
    assert len(set(made)) == 6 and set(made) <= set(history) and len(history) == 7  # + the initial commit
    assert sorted(api.list_repo_files("bob/many")) == [f"part-{i}.txt" for i in range(6)]
    with pytest.raises(ValueError, match="not valid YAML"):  # a card the Hub could not read is refused up front
        api.upload_file(path_or_fileobj=b"---\ntags: [a,\n---\n# card\n", path_in_repo=CARD_NAME, repo_id="bob/many")
    assert len(api.list_repo_commits("bob/many")) == 7


def test_a_commit_over_the_upload_limit_is_refused_before_anything_is_stored(tmp_path, monkeypatch):
    monkeypatch.setenv("TSHUB_MAX_UPLOAD_MB", "0.05")
    settings = Settings.from_env()
    with TestClient(create_app(settings)) as http:
        token = create_token(http.app.state.Session, "carol")[1]
        auth = {"Authorization": f"Bearer {token}"}
        assert http.post("/api/repos/create", json={"name": "big", "organization": "carol"}, headers=auth).is_success
        line = json.dumps(
            {
                "key": "file",
                "value": {"path": "big.bin", "encoding": "base64", "content": base64.b64encode(bytes(80_000)).decode()},
            }
        )
        body = json.dumps({"key": "header", "value": {"summary": "too big"}}) + "\n" + line + "\n"
        refused = http.post("/api/models/carol/big/commit/main", content=body, headers=auth)
        assert refused.status_code == 413 and "TSHUB_MAX_UPLOAD_MB" in refused.json()["error"]
        anonymous = http.post("/api/models/carol/big/commit/main", content=body)
        assert anonymous.status_code == 401
        assert not (settings.storage / "hub" / "blobs").exists()
        assert len(http.get("/api/models/carol/big/commits/main", headers=auth).json()) == 1


def test_a_malformed_commit_payload_is_a_400_saying_what_is_wrong():
    """Operations whose value is not an object with a string path, or a header whose parentCommit is not a string,
    are refused saying so. (Failed before: 500s, from calling .get on a number or a string.)"""
    with TestClient(create_app(Settings.from_env())) as http:
        auth = {"Authorization": f"Bearer {create_token(http.app.state.Session, 'dave')[1]}"}
        assert http.post("/api/repos/create", json={"name": "odd"}, headers=auth).is_success
        header = {"key": "header", "value": {"summary": "odd"}}
        operations = [
            {"key": "file", "value": 5},
            {"key": "file", "value": {"path": 7, "content": ""}},
            {"key": "deletedFile", "value": "x"},
            {"key": "deletedFolder", "value": {"path": None}},
            {"key": "lfsFile", "value": []},
        ]
        for operation in operations:
            body = "\n".join(map(json.dumps, [header, operation]))
            refused = http.post("/api/models/dave/odd/commit/main", content=body, headers=auth)
            assert refused.status_code == 400, (operation, refused.text)
            assert f"line 2: the value of a {operation['key']!r} operation must be an object" in refused.json()["error"]
        stale = {"key": "header", "value": {"summary": "odd", "parentCommit": 5}}
        refused = http.post("/api/models/dave/odd/commit/main", content=json.dumps(stale), headers=auth)
        assert refused.status_code == 400 and "parentCommit must be a commit id" in refused.json()["error"]
        assert len(http.get("/api/models/dave/odd/commits/main", headers=auth).json()) == 1


def laughs(levels: int) -> str:
    """A model card whose YAML metadata is a "billion laughs": each level an alias of the last, ten times."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "---\n" + "\n".join(lines) + "\n---\n\nA card.\n"


def test_hostile_commits_and_cards_are_a_400_and_store_nothing_large():
    """Failed before the fix: JSON or YAML nested 100,000 deep answered 500 (a RecursionError); a 380-byte card of
    nested YAML aliases was stored as 69 MB of JSON metadata and sent whole by every model_info (two more levels:
    6.9 GB); paths with '.' or empty segments ('./config.json', 'config.json/') were accepted beside 'config.json';
    a commit could hold any number of (empty, quota-free) files and a description as large as the upload limit,
    each copied into the database row of every later commit."""
    with TestClient(create_app(Settings.from_env()), raise_server_exceptions=False) as http:
        auth = {"Authorization": f"Bearer {create_token(http.app.state.Session, 'mallory')[1]}"}
        assert http.post("/api/repos/create", json={"name": "hostile"}, headers=auth).is_success

        def commit(*lines: str, summary: str = "hostile", description: str = "") -> httpx.Response:
            head = json.dumps({"key": "header", "value": {"summary": summary, "description": description}})
            return http.post("/api/models/mallory/hostile/commit/main", content="\n".join([head, *lines]), headers=auth)

        def file(path: str, content: bytes) -> str:
            return json.dumps({"key": "file", "value": {"path": path, "content": base64.b64encode(content).decode()}})

        card = laughs(7)
        checked = http.post("/api/validate-yaml", json={"content": card}, headers=auth)
        assert checked.status_code == 400 and "more than 100,000 values" in checked.text
        assert commit(file(CARD_NAME, card.encode())).is_success  # kept, as any card whose metadata is invalid
        info = http.get("/api/models/mallory/hostile", headers=auth)
        assert info.json()["cardData"] is None and len(info.content) < 10_000

        nested = "[" * 100_000 + "]" * 100_000
        refused = commit(nested)
        assert refused.status_code == 400 and "line 2: expected" in refused.json()["error"]
        refused = http.post("/api/repos/create", content=nested, headers=auth)
        assert refused.status_code == 400 and "the body is not JSON" in refused.json()["error"]
        deep = "[" * 20_000 + "]" * 20_000  # under the block's 64 KiB
        refused = http.post("/api/validate-yaml", json={"content": f"---\na: {deep}\n---\n"}, headers=auth)
        assert refused.status_code == 400 and "nested too deep" in refused.text

        for path in ("./config.json", "config.json/", "a/./b", "a//b", "/etc/passwd", "a/../b", "a\\b"):
            refused = commit(file(path, b"{}"))
            assert refused.status_code == 400 and "invalid file path" in refused.json()["error"], path
        refused = commit(*(file(f"f{i}", b"") for i in range(10_001)))
        assert refused.status_code == 400 and "more than 10,000 files" in refused.json()["error"]
        refused = commit(file("x", b""), description="x" * 100_000)
        assert refused.status_code == 400 and "at most 1,000 characters" in refused.json()["error"]
        assert [s["rfilename"] for s in http.get("/api/models/mallory/hostile", headers=auth).json()["siblings"]] == [
            CARD_NAME
        ]


def test_a_namespace_named_like_another_token_is_kept_for_that_token():
    """Failed before the fix: any token could create 'alice/...' first, after which Alice's pushes to her own name
    (huggingface_hub's default namespace) were refused and her name served another tenant's files."""
    with TestClient(create_app(Settings.from_env())) as http:
        tokens = {name: create_token(http.app.state.Session, name)[1] for name in ("erin", "frank")}
        erin, frank = ({"Authorization": f"Bearer {tokens[n]}"} for n in ("erin", "frank"))
        squat = http.post("/api/repos/create", json={"name": "model", "organization": "erin"}, headers=frank)
        assert squat.status_code == 403 and "is the name of another token" in squat.json()["error"]
        assert http.post("/api/repos/create", json={"name": "model"}, headers=erin).is_success
        assert http.post("/api/repos/create", json={"name": "x", "organization": "frank-org"}, headers=frank).is_success


def test_the_zoo_namespace_and_names_differing_only_in_case_are_not_for_any_tenant(monkeypatch):
    """Failed before the fix: any tenant could create 'tshub/GunPoint-fcn' first (the zoo's namespace is no token's
    name), so the operator's push was refused and every client's load_pretrained('GunPoint/fcn') got the tenant's
    weights; 'Erin/x' could be created beside erin's namespace, one Hugging Face cache folder on macOS."""
    monkeypatch.setenv("TSHUB_NAMESPACE", "tshub")
    with TestClient(create_app(Settings.from_env())) as http:
        tokens = {name: create_token(http.app.state.Session, name)[1] for name in ("erin", "mallory")}
        auth = {name: {"Authorization": f"Bearer {token}"} for name, token in tokens.items()}
        squat = http.post(
            "/api/repos/create", json={"name": "GunPoint-fcn", "organization": "tshub"}, headers=auth["mallory"]
        )
        assert squat.status_code == 403 and "the zoo's namespace" in squat.json()["error"]
        for namespace, why in (("TSHUB", "the zoo's namespace"), ("Erin", "differs only in case from 'erin'")):
            squat = http.post(
                "/api/repos/create", json={"name": "m", "organization": namespace}, headers=auth["mallory"]
            )
            assert squat.status_code == 403 and why in squat.json()["error"], namespace
        assert http.post("/api/repos/create", json={"name": "m"}, headers=auth["erin"]).is_success
        operator = {"Authorization": f"Bearer {create_token(http.app.state.Session, 'tshub')[1]}"}
        zoo = http.post("/api/repos/create", json={"name": "GunPoint-fcn"}, headers=operator)
        assert zoo.is_success, zoo.text


def test_concurrent_creates_of_one_repo_or_namespace_all_succeed(hub, client):
    """Failed before the fix: racing create_repo(exist_ok=True) calls (concurrent `tshub push` runs) got a 500
    (IntegrityError: UNIQUE constraint failed: hub_namespaces.name) instead of the 409 exist_ok expects."""
    api = HfApi(endpoint=hub.url, token=hub.tokens["bob"])
    for round_ in range(3):
        same_repo = [f"bob-team{round_}/model"] * 6
        same_namespace = [f"bob-lab{round_}/m{i}" for i in range(6)]
        with ThreadPoolExecutor(6) as pool:
            urls = list(pool.map(lambda repo: api.create_repo(repo, exist_ok=True), same_repo + same_namespace))
        assert [url.repo_id for url in urls] == same_repo + same_namespace
    assert HfApi(endpoint=hub.url, token=hub.tokens["alice"]).repo_exists("bob-lab2/m5")


def test_a_repo_without_a_tshub_checkpoint_says_so(hub, client):
    """Failed before: an empty repo raised a raw 'ValueError: Snapshot directory does not exist', and a repo of
    another library said its format version None needs a newer tshub."""
    api = HfApi(endpoint=hub.url, token=hub.tokens["alice"])
    api.create_repo("alice/empty")
    with pytest.raises(CheckpointError, match="Hub repo alice/empty .*holds no tshub checkpoint"):
        load_pretrained("alice/empty")
    with pytest.raises(CheckpointError, match="holds no tshub checkpoint"):
        tshub.hub.pull("alice/empty")
    api.create_repo("alice/bertlike")
    api.upload_file(path_or_fileobj=b'{"model_type": "bert"}', path_in_repo=CONFIG_NAME, repo_id="alice/bertlike")
    with pytest.raises(CheckpointError, match="not a tshub checkpoint config") as err:
        load_pretrained("alice/bertlike")
    assert "upgrade" not in str(err.value)


# ------------------------------------------------------------------------------------------------ provenance
def test_a_fine_tune_names_the_repo_and_commit_its_parent_was_loaded_from(hub, client, tmp_path, monkeypatch):
    """Failed before the fix: a copy of GunPoint/fcn loaded from alice/gp-copy kept the id its config names, so the
    fine-tune's card said base_model tshub/GunPoint-fcn (the namespace in force at save time) beside a commit of
    alice/gp-copy."""
    url = small_fcn(15).push_to_hub("alice/gp-copy", token=hub.tokens["alice"], private=True, id="GunPoint/fcn")
    commit = url.rsplit("/", 1)[-1]
    monkeypatch.setenv("HF_TOKEN", hub.tokens["alice"])
    parent = load_pretrained("alice/gp-copy")
    assert (parent.meta["id"], parent.meta.get("hub_repo"), parent.meta["revision"]) == ("alice/gp-copy",) * 2 + (
        commit,
    )
    tuned = parent.finetune(toy_target(), lr_multiplier=1.0, max_epochs=1, progress=False)
    monkeypatch.setenv("TSHUB_NAMESPACE", "elsewhere")  # the namespace at save time names no parent
    card = (tuned.model.save_pretrained(tmp_path / "tuned") / CARD_NAME).read_text()
    assert "base_model: alice/gp-copy" in card
    assert f"Fine-tuned from `alice/gp-copy` at Hub revision `{commit}`." in card


def test_a_model_pushed_back_unchanged_makes_no_new_commit(hub, client, tmp_path, monkeypatch):
    """Failed before the fix: the load's id and revision were saved into config.json, so every round trip was a new
    commit, and a copy re-saved under another repo's id."""
    api = HfApi(endpoint=hub.url, token=hub.tokens["alice"])
    small_fcn(16).push_to_hub("alice/round-trip", token=hub.tokens["alice"])
    small_fcn(17).push_to_hub("alice/named-copy", token=hub.tokens["alice"], id="GunPoint/fcn")
    monkeypatch.setenv("HF_TOKEN", hub.tokens["alice"])
    for repo, own_id in (("alice/round-trip", None), ("alice/named-copy", "GunPoint/fcn")):
        pushed = json.loads((Path(snapshot_download(repo)) / CONFIG_NAME).read_text())
        loaded = load_pretrained(repo)
        assert loaded.meta["revision"] and loaded.meta["id"] == repo
        loaded.push_to_hub(repo)
        assert len(api.list_repo_commits(repo)) == 2, repo  # the repo's creation and the first push only
        saved = json.loads((loaded.save_pretrained(tmp_path / repo) / CONFIG_NAME).read_text())
        assert saved == pushed and saved.get("id") == own_id and "revision" not in saved["meta"]
        assert "hub_repo" not in saved["meta"]
        loaded.meta["id"] = "Mine/fcn"  # what the user sets is saved
        assert json.loads((loaded.save_pretrained(tmp_path / repo) / CONFIG_NAME).read_text())["id"] == "Mine/fcn"


def test_a_cached_model_loads_at_once_when_the_hub_is_down_or_refuses(hub, client, monkeypatch, caplog):
    """Failed before the fix: with the Hub down each load of a cached model waited ~23 s for the checksum listing's
    retries, and a 401 or 404 was reported as a Hub that could not be reached."""
    small_fcn(18).push_to_hub("alice/cached-fcn", token=hub.tokens["alice"], private=True)
    monkeypatch.setenv("HF_TOKEN", hub.tokens["alice"])
    load_pretrained("alice/cached-fcn")  # now in the cache

    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # the Hub is down
    caplog.clear()
    started = time.monotonic()
    assert torch.equal(outputs(load_pretrained("alice/cached-fcn")), outputs(small_fcn(18)))
    assert time.monotonic() - started < 5
    assert "could not be reached" in caplog.text and "cached copy" in caplog.text

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    for token, words in (("tshub_not-a-token", "refused the token (401"), (hub.tokens["bob"], "404")):
        monkeypatch.setenv("HF_TOKEN", token)
        caplog.clear()
        load_pretrained("alice/cached-fcn")
        assert words in caplog.text and "cannot see" in caplog.text and "could not verify" not in caplog.text


# ================================================================ findings
def test_a_full_ref_name_works_for_downloads_listings_and_uploads(hub, client):
    """refs/heads/main (what list_repo_refs answers, and what the README says every {rev} takes) reaches the server
    as refs%2Fheads%2Fmain, which the server decodes into three path segments before routing."""
    api = HfApi(endpoint=hub.url, token=hub.tokens["alice"])
    api.create_repo("alice/full-ref", exist_ok=True)
    api.upload_file(path_or_fileobj=b"{}", path_in_repo=CONFIG_NAME, repo_id="alice/full-ref")
    ref = "refs/heads/main"
    assert api.file_exists("alice/full-ref", CONFIG_NAME, revision=ref)  # False now: the HEAD is a 404
    assert api.list_repo_files("alice/full-ref", revision=ref) == [CONFIG_NAME]  # RevisionNotFoundError: 'refs'
    local = hf_hub_download("alice/full-ref", CONFIG_NAME, revision=ref, token=hub.tokens["alice"])
    assert Path(local).read_bytes() == b"{}"
    api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="alice/full-ref", revision=ref)  # bare 404
    assert sorted(api.list_repo_files("alice/full-ref")) == [CONFIG_NAME, "x.txt"]


def test_a_commit_of_more_operations_than_a_repo_may_hold_is_refused_while_parsing():
    """Each file operation costs ~550 bytes of Python objects (FileChange, base64 decode, git and sha256 hashes,
    tree entry) before the 10,000-file limit refuses the commit: a 266 MB body of empty files is ~4.8 M of them."""
    from server.hub_api import parse_commit
    from server.hub_store import MAX_FILES, HubStoreError

    lines = [json.dumps({"key": "header", "value": {"summary": "many"}})]
    lines += [json.dumps({"key": "file", "value": {"path": f"f{i}", "content": ""}}) for i in range(2 * MAX_FILES + 1)]
    with pytest.raises(HubStoreError):
        parse_commit("\n".join(lines).encode())


def test_a_card_whose_tags_are_not_a_list_is_a_400_not_a_500(hub, client):
    api = HfApi(endpoint=hub.url, token=hub.tokens["alice"])
    api.create_repo("alice/int-tags", exist_ok=True)
    auth = {"Authorization": f"Bearer {hub.tokens['alice']}"}
    for meta in ("tags: 5", "tags: true"):
        card = f"---\n{meta}\n---\n# card\n"
        checked = httpx.post(f"{hub.url}/api/validate-yaml", json={"content": card}, timeout=SLOW)  # no token needed
        assert checked.status_code == 400, (meta, checked.status_code)
        with pytest.raises(ValueError, match="Invalid metadata in README.md"):  # HfHubHTTPError 500 now
            api.upload_file(path_or_fileobj=card.encode(), path_in_repo=CARD_NAME, repo_id="alice/int-tags")
        body = "\n".join(
            json.dumps(line)
            for line in (
                {"key": "header", "value": {"summary": "card"}},
                {"key": "file", "value": {"path": CARD_NAME, "content": base64.b64encode(card.encode()).decode()}},
            )
        )
        committed = httpx.post(
            f"{hub.url}/api/models/alice/int-tags/commit/main", content=body, headers=auth, timeout=SLOW
        )
        assert committed.status_code == 200, (meta, committed.status_code)  # kept, as any invalid card is


@pytest.mark.filterwarnings("ignore:About to update multiple times the same file")
def test_a_commit_with_two_cards_lists_the_metadata_of_the_card_it_keeps(hub, client):
    api = HfApi(endpoint=hub.url, token=hub.tokens["alice"])
    api.create_repo("alice/two-cards", exist_ok=True)
    old, new = b"---\ntags: [old]\n---\n", b"---\ntags: [new]\n---\n"
    api.create_commit(
        "alice/two-cards", [CommitOperationAdd(CARD_NAME, old), CommitOperationAdd(CARD_NAME, new)], commit_message="2"
    )
    assert Path(hf_hub_download("alice/two-cards", CARD_NAME)).read_bytes() == new
    assert api.model_info("alice/two-cards").tags == ["new"]  # ['old']: the card the repo no longer has
    assert [m.id for m in api.list_models(author="alice", filter="new")] == ["alice/two-cards"]


def test_a_commit_of_many_small_files_within_the_upload_limit_is_accepted(tmp_path, monkeypatch):
    """1,200 files of 40 bytes (48,000 bytes, under the 52,428-byte limit): their JSON lines (~85 bytes each beyond
    the base64) pass COMMIT_OVERHEAD's fixed 64 KiB, so the body is refused as over the upload limit."""
    monkeypatch.setenv("TSHUB_MAX_UPLOAD_MB", "0.05")
    with TestClient(create_app(Settings.from_env())) as http:
        auth = {"Authorization": f"Bearer {create_token(http.app.state.Session, 'gina')[1]}"}
        assert http.post("/api/repos/create", json={"name": "small-files"}, headers=auth).is_success
        lines = [json.dumps({"key": "header", "value": {"summary": "many small files"}})]
        lines += [
            json.dumps(
                {
                    "key": "file",
                    "value": {
                        "content": base64.b64encode(bytes(40)).decode(),
                        "path": f"part-{i:04d}.bin",
                        "encoding": "base64",
                    },
                }
            )
            for i in range(1200)
        ]
        answer = http.post("/api/models/gina/small-files/commit/main", content="\n".join(lines), headers=auth)
        assert answer.status_code == 200, answer.text


def test_repo_names_differing_only_in_case_are_one_repo(hub, client):
    api = HfApi(endpoint=hub.url, token=hub.tokens["alice"])
    api.create_repo("alice/CaseModel", exist_ok=True)
    with pytest.raises(HfHubHTTPError, match="409"):  # created: two repos, one cache folder on macOS/Windows
        api.create_repo("alice/casemodel")


def test_a_commit_that_loses_its_repo_to_a_deletion_leaves_no_blob_behind(tmp_path, monkeypatch):
    """delete_repo does not take the tenant's lock: a commit in flight writes its contents, the deletion removes the
    refs and the contents the deleted trees name, the commit's branch move fails and its retry finds no branch
    (RevisionNotFound). What it wrote stays on disk named by no commit: outside every quota, never removed."""
    from server.hub_store import FileChange, HubStore, HubStoreError

    Session = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    owner, _ = create_token(Session, "alice")
    store = HubStore(Session, tmp_path / "storage")
    repo = store.create_repo(owner, "alice", "race", False)
    write, raced = HubStore._write_blob, []

    def write_then_lose_the_repo(self, sha256, content):
        write(self, sha256, content)
        if not raced:  # HfApi.delete_repo lands between this commit's blob write and its branch move
            raced.append(store.delete_repo(owner, "alice/race"))

    monkeypatch.setattr(HubStore, "_write_blob", write_then_lose_the_repo)
    with pytest.raises(Exception) as refused:
        store.commit(owner, repo, "main", [FileChange("weights.bin", os.urandom(1000))], "push")
    assert [p.name for p in (tmp_path / "storage" / "hub" / "blobs").rglob("*") if p.is_file()] == []
    assert isinstance(refused.value, HubStoreError), repr(refused.value)  # an IntegrityError (HTTP 500) now
