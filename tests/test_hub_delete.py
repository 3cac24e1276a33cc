"""Deleting Hub repos for real: the official huggingface_hub client and the operator's CLI against a live server.

One ``tshub serve --role api`` with a 1 MB storage quota per token (TSHUB_TENANT_STORAGE_MB), so a test fills it
with a megabyte of files. Each test publishes its own repos with its own tokens.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from huggingface_hub import HfApi, constants
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from server.auth import Owner, create_token, revoke_token
from server.cli import main as server_main
from server.db import open_store
from server.hub_store import FileChange, HubRepo, HubStore
from server.testing import LiveServer, service_env


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A running ``tshub serve --role api`` with a 1 MB quota per token, and its database."""
    home = tmp_path_factory.mktemp("hub_delete")
    server = LiveServer(service_env(home, [], TSHUB_TENANT_STORAGE_MB=1), home / "server.log", role="api").start(120)
    try:
        Session = open_store(f"sqlite:///{home / 'server' / 'tshub.db'}")  # the server's database, as the CLI does
        yield SimpleNamespace(
            url=server.url, home=home, Session=Session, blobs=home / "server" / "storage" / "hub" / "blobs"
        )
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client online (the suite sets HF_HUB_OFFLINE), as a user of the server is."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


def tenant(hub: SimpleNamespace, name: str) -> HfApi:
    return HfApi(endpoint=hub.url, token=create_token(hub.Session, name)[1])


def stored(hub: SimpleNamespace, content: bytes) -> bool:
    """Whether the server's storage holds this content."""
    digest = hashlib.sha256(content).hexdigest()
    return (hub.blobs / digest[:2] / digest).is_file()


def upload(api: HfApi, repo_id: str, path: str, content: bytes) -> None:
    api.upload_file(path_or_fileobj=content, path_in_repo=path, repo_id=repo_id)


def test_deleting_a_repo_frees_its_quota_and_storage(hub):
    """The tester's scenario: 0.9 MB stored under a 1 MB quota, then 0.3 MB more is refused, even after deleting the
    file (history keeps it); deleting the repo frees it, and the 0.3 MB is accepted. (Failed before: delete_repo
    answered a bare 404 and nothing ever freed the quota.)"""
    api = tenant(hub, "quinn")
    big, small = os.urandom(900_000), os.urandom(300_000)
    api.create_repo("quinn/full")
    upload(api, "quinn/full", "big.bin", big)
    with pytest.raises(HfHubHTTPError, match="storage quota exceeded") as refused:
        upload(api, "quinn/full", "small.bin", small)
    assert refused.value.response.status_code == 413
    api.delete_file("big.bin", "quinn/full")
    with pytest.raises(HfHubHTTPError, match="delete_repo") as refused:  # the refusal says how to free Hub files
        upload(api, "quinn/full", "small.bin", small)

    api.delete_repo("quinn/full")
    assert not api.repo_exists("quinn/full") and not stored(hub, big)
    with pytest.raises(RepositoryNotFoundError):
        api.delete_repo("quinn/full")
    api.delete_repo("quinn/full", missing_ok=True)

    api.create_repo("quinn/full")  # the name is free again, for its owner
    upload(api, "quinn/full", "small.bin", small)
    assert api.list_repo_files("quinn/full") == ["small.bin"] and stored(hub, small)


def test_only_the_owner_deletes_and_content_another_repo_holds_stays(hub, tmp_path):
    """Contents are stored once however many repos hold them: deleting a repo removes only what no other repo's
    commit (of any token) still names, and only the repo's own token may delete it."""
    alice, bob = tenant(hub, "alicia"), tenant(hub, "bruno")
    shared, own, old = b"the same checkpoint\n" * 100, b"alicia's alone\n", b"an earlier version\n"
    for api, repo_id in ((alice, "alicia/model"), (alice, "alicia/copy"), (bob, "bruno/model")):
        api.create_repo(repo_id)
        upload(api, repo_id, "weights.bin", shared)
    upload(alice, "alicia/model", "notes.txt", old)
    upload(alice, "alicia/model", "notes.txt", own)  # the old content only in history now
    alice.create_repo("alicia/secret", private=True)

    with pytest.raises(HfHubHTTPError, match="belongs to another token") as refused:
        bob.delete_repo("alicia/model")
    assert refused.value.response.status_code == 403
    with pytest.raises(RepositoryNotFoundError):  # a private repo of another token is not there, as on the Hub
        bob.delete_repo("alicia/secret")
    with pytest.raises(HfHubHTTPError) as refused:
        HfApi(endpoint=hub.url, token=False).delete_repo("alicia/model")
    assert refused.value.response.status_code == 401
    assert alice.repo_exists("alicia/model") and alice.repo_exists("alicia/secret")

    alice.delete_repo("alicia/model")
    assert not stored(hub, own) and not stored(hub, old) and stored(hub, shared)
    for api, repo_id in ((alice, "alicia/copy"), (bob, "bruno/model")):
        downloaded = api.hf_hub_download(repo_id, "weights.bin", cache_dir=tmp_path / repo_id)
        assert Path(downloaded).read_bytes() == shared
    alice.delete_repo("alicia/copy")
    assert stored(hub, shared)  # bob's repo still holds it
    bob.delete_repo("model")  # the token's own namespace, as on the Hub
    assert not stored(hub, shared) and not bob.repo_exists("bruno/model")


def test_unsupported_hub_operations_say_so(hub):
    """Operations of the Hub this server does not implement answer 501 saying so. (Failed before: a bare
    404 {"detail": "Not Found"}, which the client reports as a missing repo or file.)"""
    api = tenant(hub, "uma")
    api.create_repo("uma/model")
    calls = {
        "super_squash_history": lambda: api.super_squash_history("uma/model"),
        "move_repo": lambda: api.move_repo("uma/model", "uma/renamed"),
        "create_branch": lambda: api.create_branch("uma/model", branch="dev"),
        "delete_branch": lambda: api.delete_branch("uma/model", branch="dev"),
        "create_tag": lambda: api.create_tag("uma/model", tag="v1"),
        "delete_tag": lambda: api.delete_tag("uma/model", tag="v1"),
        "get_paths_info": lambda: api.get_paths_info("uma/model", ["README.md"]),
    }
    for name, call in calls.items():
        with pytest.raises(HfHubHTTPError, match="self-hosted Hub .*does not support") as refused:
            call()
        assert refused.value.response.status_code == 501, name
    assert api.list_repo_refs("uma/model").branches[0].name == "main" and not api.list_repo_refs("uma/model").tags


def test_the_operator_deletes_a_revoked_tokens_repo_with_the_cli(hub, monkeypatch, capsys):
    """A revoked token can no longer delete its repos; `tshub hub delete` does it for the operator. (Failed
    before: no such command, and the repos and their storage stayed for good.)"""
    owner, token = create_token(hub.Session, "gone")
    api = HfApi(endpoint=hub.url, token=token)
    content = os.urandom(1000)
    api.create_repo("gone/model", private=True)
    upload(api, "gone/model", "weights.bin", content)
    revoke_token(hub.Session, owner.id)
    with pytest.raises(HfHubHTTPError):
        api.delete_repo("gone/model")

    monkeypatch.setenv("TSHUB_HOME", str(hub.home))  # the server's settings, as the operator's shell has them
    monkeypatch.delenv("TSHUB_SERVER_DB", raising=False)
    monkeypatch.delenv("TSHUB_SERVER_STORAGE", raising=False)
    assert server_main(["hub", "delete", "gone/model"]) == 0
    assert "deleted gone/model" in capsys.readouterr().err
    assert not stored(hub, content)
    assert server_main(["hub", "delete", "gone/model"]) == 1
    assert "no repo gone/model" in capsys.readouterr().err


def test_a_commit_racing_a_deletion_keeps_its_content(tmp_path, monkeypatch):
    """A commit does not write a content stored already, so a deletion that found that content unnamed could remove
    it under a commit landing meanwhile: the deletion checks again before removing it, and a commit that lands after
    that finds its content missing and writes it again."""
    Session = open_store(f"sqlite:///{tmp_path / 'tshub.db'}")
    store = HubStore(Session, tmp_path)
    (ann, _), (ben, _) = create_token(Session, "ann"), create_token(Session, "ben")
    bens = store.create_repo(ben, "ben", "model", private=False)

    def commit(owner: Owner, repo: HubRepo, content: bytes) -> None:
        store.commit(owner, repo, "main", [FileChange(content.decode().strip(), content)], "add")

    def then_once(call: Callable[..., Any], run: Callable[[], object]) -> Callable[..., Any]:
        """``call``, followed by ``run`` the first time."""
        pending = [run]

        def call_then_run(*args: Any) -> Any:
            result = call(*args)
            while pending:
                pending.pop()()
            return result

        return call_then_run

    def stored(content: bytes) -> bool:
        return store._blob_path(hashlib.sha256(content).hexdigest()).read_bytes() == content

    # Ben's commit lands between the deletion's two checks: the second one sees it, and the content is put back.
    first = b"first\n"
    commit(ann, store.create_repo(ann, "ann", "one", private=False), first)
    with monkeypatch.context() as patch:
        patch.setattr(store, "_named", then_once(store._named, lambda: commit(ben, bens, first)))
        store.delete_repo(ann, "ann/one")
    assert stored(first) and "first" in store.resolve(bens, "main").files

    # Ann's repo is deleted while Ben's commit runs, after it found the content stored: it writes it again.
    second = b"second\n"
    commit(ann, store.create_repo(ann, "ann", "two", private=False), second)
    with monkeypatch.context() as patch:
        patch.setattr(store, "_branch_head", then_once(store._branch_head, lambda: store.delete_repo(ann, "ann/two")))
        commit(ben, bens, second)
    assert stored(second) and "second" in store.resolve(bens, "main").files
