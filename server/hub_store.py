"""The service's model repositories, versioned as the Hugging Face Hub versions them (see server.hub_api).

A repo ``<namespace>/<name>`` belongs to the token that created it (the first token to create a repo in a
namespace owns the namespace), is public or private, and holds commits. A commit is immutable: its id is the
sha1 of its parent, its file tree, message, author and date (40 hex digits, like a git commit), and it lists
every file of the repo at that point with its git blob id (sha1 of ``"blob <size>\\0" + content``, what the
Hub reports and what clients verify), its sha256 and size. Branches (``main`` first) move from commit to
commit by compare-and-swap, so concurrent pushes never lose one another. File contents live once, under
``<storage>/hub/blobs/<sha256[:2]>/<sha256>``, written atomically before the commit that names them, shared by
every commit (of any repo and token) that names the same content. Files are stored as regular git blobs (no LFS or
Xet), which bounds a commit by the upload limit. Deleting a repo deletes its commits and refs, and the contents no
other repo's commit names.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from huggingface_hub import ModelCard
from huggingface_hub.repocard import REGEX_YAML_BLOCK
from huggingface_hub.utils.sha import git_hash
from sqlalchemy import JSON, Boolean, ForeignKey, String, Text, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from server.auth import Owner
from server.db import Base, Token, UTCDateTime, new_id, utcnow
from tshub.atomic import write_bytes_atomic
from tshub.hub.ids import hub_namespace

DEFAULT_BRANCH = "main"
REF_PREFIX = {"branch": "refs/heads/", "tag": "refs/tags/"}  # a ref's kind → the start of its full name
CARD_FILE = "README.md"
COMMIT_ID = re.compile(r"^[0-9a-f]{40}$")
# The Hub's rule for namespaces and repo names: letters, digits, "-", "_", "."; no "--" or ".."; at most 96.
_NAME = re.compile(r"^(?!.*(?:--|\.\.))[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?$")
_BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
MAX_PATH = 1000
# What one commit may hold beyond its files' contents (which the upload limit and the quota bound): every commit
# stores its whole file tree, title and message in the database, so these keep a commit's row small.
MAX_FILES = 10_000  # files in the repo at a commit (a checkpoint has four)
MAX_TITLE, MAX_MESSAGE = 1_000, 64 * 1024  # characters
MAX_CARD_VALUES = 100_000  # values in a card's YAML metadata, aliases (*name) expanded as JSON stores them
# Characters of a card's YAML metadata block: pure-Python YAML parses ~40-150 kB a second, and anyone may ask for a
# card's validation; tshub's cards hold under 1 kB.
MAX_CARD_YAML = 64 * 1024
# Tries of a repo creation that a concurrent one beat to its namespace or repo row: each loss is to a row that then
# exists, so the second try settles it unless a third request raced for the same new repo too.
CREATE_ATTEMPTS = 3


class HubStoreError(Exception):
    """A refused request: ``status`` is the HTTP status and ``code`` the Hub's X-Error-Code (None when it has none)."""

    status = 400
    code: str | None = None
    headers: dict[str, str] = {}


class RepoNotFound(HubStoreError):
    status, code = 404, "RepoNotFound"


class RevisionNotFound(HubStoreError):
    status, code = 404, "RevisionNotFound"


class EntryNotFound(HubStoreError):
    status, code = 404, "EntryNotFound"


class Forbidden(HubStoreError):
    status = 403


class RepoExists(HubStoreError):
    status = 409


class StaleParent(HubStoreError):
    status = 412


class StorageLost(HubStoreError):
    status = 500


class _BranchMoved(Exception):
    """Another commit moved the branch between reading its head and moving it (rolls the new commit back)."""


# ------------------------------------------------------------------------------------------------ tables
class HubNamespace(Base):
    """A user or organisation name; the token that first created a repo under it owns it."""

    __tablename__ = "hub_namespaces"
    name: Mapped[str] = mapped_column(String(96), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("tokens.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HubRepo(Base):
    __tablename__ = "hub_repos"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    repo_id: Mapped[str] = mapped_column(String(200), unique=True, index=True)
    namespace: Mapped[str] = mapped_column(ForeignKey("hub_namespaces.name"), index=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("tokens.id"), index=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HubCommit(Base):
    """One immutable version of a repo: the whole file tree ``{path: {"oid", "sha256", "size"}}``."""

    __tablename__ = "hub_commits"
    oid: Mapped[str] = mapped_column(String(40), primary_key=True)
    repo_pk: Mapped[str] = mapped_column(ForeignKey("hub_repos.id"), index=True)
    parent_oid: Mapped[str | None] = mapped_column(String(40), nullable=True)
    title: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(200))
    files: Mapped[dict[str, Any]] = mapped_column(JSON)
    card_data: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HubRef(Base):
    """A branch or tag of a repo and the commit it points to."""

    __tablename__ = "hub_refs"
    repo_pk: Mapped[str] = mapped_column(ForeignKey("hub_repos.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), default="branch")
    commit_oid: Mapped[str] = mapped_column(ForeignKey("hub_commits.oid"))


# ------------------------------------------------------------------------------------------------ the store
@dataclass(frozen=True)
class FileChange:
    """One operation of a commit: ``content`` None deletes ``path`` (a folder when ``folder``)."""

    path: str
    content: bytes | None = None
    folder: bool = False


class DeletedRepo(NamedTuple):
    """What deleting a repo removed: its commits, and the stored contents no other repo names (count and bytes)."""

    commits: int
    blobs: int
    bytes: int


class HubStore:
    """Repos, commits and refs in the service database; blobs under ``<storage>/hub``. Every read checks
    visibility."""

    def __init__(self, Session: sessionmaker, storage: Path):
        self.Session, self.root = Session, storage / "hub"

    # ---------------------------------------------------------------------------------------- repos
    def create_repo(self, owner: Owner, namespace: str, name: str, private: bool) -> HubRepo:
        """A new repo with an empty initial commit on ``main``; RepoExists when the id is taken."""
        for part in (namespace, name):
            if not _NAME.match(part):
                raise HubStoreError(
                    f"invalid repo id part {part!r}: use letters, digits, '-', '_' and '.' (no "
                    "'--' or '..', at most 96 characters, starting with a letter or digit)"
                )
        for _ in range(CREATE_ATTEMPTS - 1):
            try:
                return self._insert_repo(owner, namespace, name, private)
            except IntegrityError:
                # A concurrent create added the namespace or the repo between this one's reads and its inserts (this
                # transaction rolled back): read again, which finds it (RepoExists, Forbidden, or a namespace to use).
                continue
        return self._insert_repo(owner, namespace, name, private)

    def _insert_repo(self, owner: Owner, namespace: str, name: str, private: bool) -> HubRepo:
        """One try of ``create_repo``, one transaction: its reads and its inserts race with other requests'."""
        repo_id = f"{namespace}/{name}"
        with self.Session.begin() as session:
            space = session.get(HubNamespace, namespace)
            if space is None and namespace != owner.name:
                _refuse_reserved(session, namespace, owner)
            if space is None:
                session.add(HubNamespace(name=namespace, owner_id=owner.id))
            elif space.owner_id != owner.id:
                raise Forbidden(
                    f"the namespace {namespace!r} belongs to another token; create the repo under a namespace of yours"
                )
            taken = session.scalar(select(HubRepo.repo_id).where(func.lower(HubRepo.repo_id) == repo_id.lower()))
            if taken == repo_id:
                raise RepoExists(f"you already created the model repo {repo_id}")
            if taken is not None:  # as on the Hub; two would share one cache folder where file names ignore case
                raise RepoExists(f"the model repo {taken} exists, and repo names that differ only in case are one name")
            repo = HubRepo(repo_id=repo_id, namespace=namespace, owner_id=owner.id, private=private)
            session.add(repo)
            session.flush()
            initial = _new_commit(repo.id, None, {}, "initial commit", "", owner.name)
            session.add(initial)
            session.flush()
            session.add(HubRef(repo_pk=repo.id, name=DEFAULT_BRANCH, commit_oid=initial.oid))
        return repo

    def readable_repo(self, owner: Owner | None, repo_id: str) -> HubRepo:
        """The repo if ``owner`` may read it; RepoNotFound otherwise (a private repo of another token is not there)."""
        repo = self._find(repo_id)
        if repo is None or (repo.private and (owner is None or owner.id != repo.owner_id)):
            raise RepoNotFound(f"repository {repo_id} not found")
        return repo

    def _find(self, repo_id: str) -> HubRepo | None:
        with self.Session() as session:
            return session.scalar(select(HubRepo).where(HubRepo.repo_id == repo_id))

    def writable_repo(self, owner: Owner, repo_id: str) -> HubRepo:
        repo = self.readable_repo(owner, repo_id)
        if repo.owner_id != owner.id:
            raise Forbidden(f"this token cannot write to {repo_id}: it belongs to another token")
        return repo

    def set_private(self, owner: Owner, repo_id: str, private: bool) -> None:
        repo = self.writable_repo(owner, repo_id)
        with self.Session.begin() as session:
            session.execute(update(HubRepo).where(HubRepo.id == repo.id).values(private=private))

    def delete_repo(self, owner: Owner | None, repo_id: str) -> DeletedRepo:
        """Delete a repo of ``owner`` (None: the operator, any repo) with its commits and refs, then the stored
        contents no other repo's commit names, which frees them from the token's quota. The namespace stays its
        token's, so no other tenant can publish different files under the deleted repo's id."""
        repo = self._find(repo_id) if owner is None else self.writable_repo(owner, repo_id)
        if repo is None:
            raise RepoNotFound(f"repository {repo_id} not found")
        with self.Session.begin() as session:
            # Refs first: a concurrent commit moves its branch by compare-and-swap, so once the refs are gone no
            # commit can land in this repo, and the trees read next are all there are.
            session.execute(delete(HubRef).where(HubRef.repo_pk == repo.id))
            trees = session.scalars(select(HubCommit.files).where(HubCommit.repo_pk == repo.id)).all()
            session.execute(delete(HubCommit).where(HubCommit.repo_pk == repo.id))
            if session.execute(delete(HubRepo).where(HubRepo.id == repo.id)).rowcount != 1:
                raise RepoNotFound(f"repository {repo_id} not found (deleted meanwhile)")
        removed = self._remove_unreferenced(_blob_sizes(trees))
        return DeletedRepo(len(trees), len(removed), sum(removed.values()))

    def _remove_unreferenced(self, blobs: dict[str, int]) -> dict[str, int]:
        """Delete the stored ``blobs`` (size by sha256) that no commit names; returns those deleted.

        A concurrent commit may name one of them after the first check (its content was already stored, so it
        did not write it): each blob is first renamed aside, then checked again and put back if a commit names
        it now; a commit landing after that check finds its blob missing and writes it again (``commit``).
        """
        aside: dict[str, Path] = {}
        for sha256 in blobs.keys() - self._named(set(blobs)):
            path = self._blob_path(sha256)
            moved = path.with_name(f".{sha256}.{new_id()}.deleting")
            try:
                os.replace(path, moved)
            except FileNotFoundError:  # another deletion took it, or the storage lost it
                continue
            aside[sha256] = moved
        named = self._named(set(aside))
        for sha256, moved in aside.items():
            if sha256 in named:
                os.replace(moved, self._blob_path(sha256))
            else:
                moved.unlink()
        return {sha256: blobs[sha256] for sha256 in aside.keys() - named}

    def _named(self, sha256s: set[str]) -> set[str]:
        """Those of ``sha256s`` that a commit of any repo names."""
        if not sha256s:
            return set()
        with self.Session() as session:
            trees = session.scalars(select(HubCommit.files))
            return {e["sha256"] for files in trees for e in files.values() if e["sha256"] in sha256s}

    def list_repos(
        self, owner: Owner | None, author: str | None, search: str | None, tags: list[str], sort: str | None, limit: int
    ) -> list[tuple[HubRepo, HubCommit]]:
        """Repos ``owner`` may read, at their main commit (optionally of one namespace, whose id contains ``search``,
        whose card has all ``tags``): the most recently created first, or modified with ``sort="lastModified"``."""
        newest = HubCommit.created_at if sort == "lastModified" else HubRepo.created_at
        query = (
            select(HubRepo, HubCommit)
            .join(HubRef, (HubRef.repo_pk == HubRepo.id) & (HubRef.name == DEFAULT_BRANCH))
            .join(HubCommit, HubCommit.oid == HubRef.commit_oid)
            .order_by(newest.desc())
        )
        if author:
            query = query.where(HubRepo.namespace == author)
        with self.Session() as session:
            rows = session.execute(query).all()
        return [
            (repo, commit)
            for repo, commit in rows
            if (not repo.private or (owner is not None and owner.id == repo.owner_id))
            and (not search or search.casefold() in repo.repo_id.casefold())
            and set(tags) <= card_tags(commit.card_data)
        ][:limit]

    # ---------------------------------------------------------------------------------------- revisions
    def resolve(self, repo: HubRepo, revision: str) -> HubCommit:
        """The commit a branch, tag (by name, or in full: ``refs/heads/main``, as ``list_repo_refs`` names them) or
        commit id (full, or a prefix of at least 7 digits) names."""
        kind, name = next(
            ((kind, revision[len(prefix) :]) for kind, prefix in REF_PREFIX.items() if revision.startswith(prefix)),
            (None, revision),
        )
        with self.Session() as session:
            ref = session.get(HubRef, (repo.id, name))
            if ref is not None and kind in (None, ref.kind):
                return session.get(HubCommit, ref.commit_oid)
            if re.fullmatch(r"[0-9a-f]{7,40}", revision):
                found = session.scalars(
                    select(HubCommit).where(HubCommit.repo_pk == repo.id, HubCommit.oid.startswith(revision)).limit(2)
                ).all()
                if len(found) == 1:
                    return found[0]
        raise RevisionNotFound(f"invalid rev id: {revision} (no branch, tag or commit of {repo.repo_id})")

    def refs(self, repo: HubRepo) -> list[HubRef]:
        with self.Session() as session:
            return list(session.scalars(select(HubRef).where(HubRef.repo_pk == repo.id).order_by(HubRef.name)))

    def history(self, repo: HubRepo, head: HubCommit) -> list[HubCommit]:
        """``head`` and its ancestors, newest first."""
        with self.Session() as session:
            by_oid = {c.oid: c for c in session.scalars(select(HubCommit).where(HubCommit.repo_pk == repo.id))}
        chain, oid = [], head.oid
        while oid is not None:
            chain.append(by_oid[oid])
            oid = by_oid[oid].parent_oid
        return chain

    def blob(self, commit: HubCommit, path: str) -> tuple[Path, dict[str, Any]]:
        """The stored file of ``path`` at ``commit`` and its entry (oid, sha256, size)."""
        entry = commit.files.get(path)
        if entry is None:
            raise EntryNotFound(f"{path} does not exist at commit {commit.oid}")
        blob = self._blob_path(entry["sha256"])
        if not blob.is_file():
            raise StorageLost(
                f"the server's storage has lost the content of {path} (sha256 {entry['sha256']}); "
                "tell the operator, who can push the checkpoint again"
            )
        return blob, entry

    # ---------------------------------------------------------------------------------------- writes
    def commit(
        self,
        owner: Owner,
        repo: HubRepo,
        branch: str,
        changes: list[FileChange],
        title: str,
        message: str = "",
        parent: str | None = None,
    ) -> HubCommit:
        """Apply ``changes`` on top of ``branch`` as one new commit and move the branch to it.

        ``parent`` (a commit id) refuses the commit when the branch has moved since; without it, a concurrent
        commit is rebased on (tried again from the new head), as the Hub does.
        """
        if not title.strip():
            raise HubStoreError("a commit needs a summary (commit_message)")
        if len(title) > MAX_TITLE or len(message) > MAX_MESSAGE:
            raise HubStoreError(
                f"a commit's summary may have at most {MAX_TITLE:,} characters and its description {MAX_MESSAGE:,} "
                f"(got {len(title):,} and {len(message):,}); shorten them"
            )
        if not (utf_8(title) and utf_8(message)):
            raise HubStoreError("a commit's summary and description must be text: they hold a lone surrogate")
        if not _BRANCH.match(branch) or COMMIT_ID.match(branch):
            raise HubStoreError(f"cannot commit to {branch!r}: commits go to a branch, such as {DEFAULT_BRANCH!r}")
        contents = {change.path: change.content for change in changes if change.content is not None}
        blobs = {path: _blob_entry(content) for path, content in contents.items()}
        card = card_metadata(contents[CARD_FILE]) if CARD_FILE in contents else None  # the last added: the one kept
        try:
            return self._commit_on_head(owner, repo, branch, changes, contents, blobs, card, title, message, parent)
        except BaseException as err:  # what it stored is named by no commit: outside every quota, never swept
            self._remove_unreferenced({blob["sha256"]: blob["size"] for blob in blobs.values()})
            if isinstance(err, IntegrityError):  # the repo's row went between this commit's reads and its insert
                raise RepoNotFound(f"repository {repo.repo_id} was deleted while this commit was made") from None
            raise

    def _commit_on_head(
        self,
        owner: Owner,
        repo: HubRepo,
        branch: str,
        changes: list[FileChange],
        contents: dict[str, bytes],
        blobs: dict[str, dict[str, Any]],
        card: dict[str, Any] | None,
        title: str,
        message: str,
        parent: str | None,
    ) -> HubCommit:
        """``commit``'s tries: the changes applied on the branch's head, the branch moved to the new commit by
        compare-and-swap, again from the new head while concurrent commits move it."""
        for _ in range(20):
            head = self._branch_head(repo, branch)
            if parent is not None and not head.oid.startswith(parent):
                raise StaleParent(f"a commit has happened on {branch} since {parent}; pull and try again")
            files = _apply(dict(head.files), changes, blobs)
            if len(files) > MAX_FILES:
                raise HubStoreError(
                    f"this commit would leave {len(files):,} files in {repo.repo_id}, over the limit of {MAX_FILES:,} "
                    "per repo; pack small files together or delete some"
                )
            _refuse_file_and_folder(files)
            new = _new_commit(
                repo.id,
                head.oid,
                files,
                title.strip(),
                message,
                owner.name,
                (card if CARD_FILE in blobs else head.card_data) if CARD_FILE in files else None,
            )
            for path, content in contents.items():  # before the commit that names them, and only for one not refused
                self._write_blob(blobs[path]["sha256"], content)
            try:
                with self.Session.begin() as session:
                    session.add(new)
                    session.flush()
                    moved = session.execute(
                        update(HubRef)
                        .where(
                            HubRef.repo_pk == repo.id,
                            HubRef.name == branch,
                            HubRef.commit_oid == head.oid,
                        )
                        .values(commit_oid=new.oid)
                    ).rowcount
                    if moved != 1:
                        raise _BranchMoved
            except _BranchMoved:
                continue
            for path, content in contents.items():  # a repo deletion may have removed a content this one names
                self._write_blob(blobs[path]["sha256"], content)
            return new
        raise StaleParent(f"{branch} of {repo.repo_id} keeps moving; try again")

    def _branch_head(self, repo: HubRepo, branch: str) -> HubCommit:
        with self.Session() as session:
            ref = session.get(HubRef, (repo.id, branch))
            if ref is None or ref.kind != "branch":
                raise RevisionNotFound(f"no branch {branch!r} in {repo.repo_id}")
            return session.get(HubCommit, ref.commit_oid)

    def _write_blob(self, sha256: str, content: bytes) -> None:
        """Store a content unless it is stored already."""
        path = self._blob_path(sha256)
        if not path.is_file():
            write_bytes_atomic(path, content)

    def _blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256[:2] / sha256


def _blob_entry(content: bytes) -> dict[str, Any]:
    """What a commit's file tree records of a content: its git blob id, its sha256 (where it is stored) and size."""
    return {"oid": git_hash(content), "sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}


def hub_blobs(Session: sessionmaker, owner_id: str) -> dict[str, int]:
    """Size by sha256 of every file in the commits of ``owner_id``'s repos: what its repos keep stored (counted
    in its storage quota), each content once however many commits, paths or repos hold it."""
    with Session() as session:
        return _blob_sizes(
            session.scalars(
                select(HubCommit.files)
                .join(HubRepo, HubCommit.repo_pk == HubRepo.id)
                .where(HubRepo.owner_id == owner_id)
            )
        )


def _blob_sizes(trees: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Size by sha256 of the contents that these commits' file trees name."""
    return {entry["sha256"]: entry["size"] for files in trees for entry in files.values()}


def check_path(path: str) -> str:
    """A repo file path: relative, '/'-separated, no empty, '.', '..' or '.git' segment, no control character or
    lone surrogate (JSON's "\\ud800": no answer naming it could be encoded); HubStoreError otherwise.

    Segments are split here, not by PurePosixPath, which drops '.' and empty ones: "./config.json" or "config.json/"
    would be files beside "config.json" that a client writes to the same place.
    """
    if (
        not path
        or len(path) > MAX_PATH
        or "\\" in path
        or any(unicodedata.category(c) in ("Cc", "Cs") for c in path)  # controls; lone surrogates, not UTF-8
        or any(p in ("", ".", "..", ".git") for p in path.split("/"))
    ):
        raise HubStoreError(f"invalid file path {path!r}: use a relative path such as 'config.json' or 'sub/x.bin'")
    return path


def card_metadata(content: bytes) -> dict[str, Any] | None:
    """The YAML metadata of a model card (README.md); None when it has none or it is not valid."""
    try:
        return card_yaml(content.decode()) or None
    except (ValueError, UnicodeDecodeError):
        return None


def card_tags(card: dict[str, Any] | None) -> set[str]:
    """What the Hub's ``list_models(filter=...)`` matches in a model card: its tags and library, and its datasets and
    license as ``dataset:<name>`` and ``license:<id>``."""
    found: set[str] = set()
    for key, prefix in (("tags", ""), ("library_name", ""), ("datasets", "dataset:"), ("license", "license:")):
        value = (card or {}).get(key)
        found.update(f"{prefix}{v}" for v in (value if isinstance(value, list) else [value]) if v is not None)
    return found


def card_yaml(text: str) -> dict[str, Any]:
    """The metadata block of a model card as huggingface_hub reads it; ValueError says what is wrong with it.

    The block is bounded before it is parsed (MAX_CARD_YAML), and its size is checked with YAML aliases expanded: a
    few hundred bytes of nested aliases (a "billion laughs") parse to shared objects, but become gigabytes once
    stored as JSON or sent in a repo's cardData.
    """
    try:
        block = REGEX_YAML_BLOCK.search(text)
        if block is not None and len(block.group(2)) > MAX_CARD_YAML:
            raise ValueError(
                f"the YAML metadata block of README.md is over {MAX_CARD_YAML // 1024} KiB; keep long text in the "
                "card's body, below the block"
            )
        if block is not None:
            _check_card_values(yaml.safe_load(block.group(2)))
        return ModelCard(text, ignore_metadata_errors=False).data.to_dict()
    except (TypeError, AttributeError, KeyError) as err:  # huggingface_hub's card data on a value of the wrong type
        raise ValueError(f"the YAML metadata of README.md is no model card's: {type(err).__name__}: {err}") from None
    except yaml.YAMLError as err:
        raise ValueError(f"the YAML metadata block of README.md is not valid YAML: {err}") from None
    except RecursionError:
        raise ValueError("the YAML metadata block of README.md is nested too deep; flatten it") from None


def _check_card_values(data: Any) -> None:
    """Count the values of parsed YAML as JSON would write them (an alias as often as it is used), up to the limit."""
    pending, count = [data], 0
    while pending:
        item = pending.pop()
        count += 1
        if count > MAX_CARD_VALUES:
            raise ValueError(
                f"the YAML metadata block of README.md holds more than {MAX_CARD_VALUES:,} values once its aliases "
                "(*name) are expanded; write fewer values, without aliases that repeat large ones"
            )
        if isinstance(item, str) and not utf_8(item):
            raise ValueError("the YAML metadata block of README.md holds a lone surrogate (\\ud800...); write text")
        if isinstance(item, dict):
            pending.extend([*item.keys(), *item.values()])
        elif isinstance(item, list):
            pending.extend(item)


def utf_8(text: str) -> bool:
    """Whether ``text`` can be encoded, i.e. holds no lone surrogate (what JSON's or YAML's "\\ud800" decodes to):
    stored, it would make every answer that lists it fail."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _refuse_reserved(session: Any, namespace: str, owner: Owner) -> None:
    """Refuse a new namespace kept for someone else: the name of another token (where huggingface_hub pushes by
    default), the zoo's (``$TSHUB_NAMESPACE``, whose repos ``load_pretrained("<SOURCE>/<arch>")`` reads, kept for
    a token of that name even before one exists), or one differing only in case from a namespace or token name
    (one folder in a case-insensitive file system's Hugging Face cache, and a look-alike)."""
    folded = namespace.casefold()
    if folded == hub_namespace().casefold():
        raise Forbidden(
            f"the namespace {namespace!r} is the zoo's namespace (TSHUB_NAMESPACE), which only a token named "
            f"{hub_namespace()!r} may create; create the repo under your own name ({owner.name!r})"
        )
    # other tokens' names and namespaces: one this token created meanwhile (a concurrent create) is its own
    others = session.scalars(select(HubNamespace.name).where(HubNamespace.owner_id != owner.id)).all()
    names = [*session.scalars(select(Token.name).where(Token.id != owner.id)).all(), *others]
    taken = next((name for name in names if name.casefold() == folded), None)
    if taken == namespace:
        raise Forbidden(
            f"the namespace {namespace!r} is the name of another token, which alone may create it; create "
            f"the repo under your own name ({owner.name!r}) or a namespace no token is named"
        )
    if taken is not None:
        raise Forbidden(
            f"the namespace {namespace!r} differs only in case from {taken!r}, another token's; create the repo "
            f"under your own name ({owner.name!r})"
        )


def _apply(files: dict[str, Any], changes: list[FileChange], blobs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    for change in changes:
        if change.content is not None:
            files[change.path] = blobs[change.path]
        elif change.folder:
            prefix = change.path.rstrip("/") + "/"
            doomed = [p for p in files if p.startswith(prefix)]
            if not doomed:
                raise EntryNotFound(f"no folder {change.path!r} to delete")
            for p in doomed:
                del files[p]
        elif files.pop(change.path, None) is None:
            raise EntryNotFound(f"a file with this name doesn't exist: {change.path}")
    return files


def parent_folders(path: str) -> list[str]:
    """The folders holding a repo file, outermost first: 'a/b/c.bin' is in 'a' and 'a/b'."""
    return [path[:i] for i, c in enumerate(path) if c == "/"]


def _refuse_file_and_folder(files: dict[str, Any]) -> None:
    """Refuse a tree where a path is a file and a folder (``a`` and ``a/b``): no client could download it, since no
    folder holds a file and a folder of one name."""
    folders = {folder for path in files for folder in parent_folders(path)}
    both = sorted(folders & files.keys())
    if both:
        raise HubStoreError(f"{both[0]!r} would be both a file and a folder of the repo; rename one, or delete it")


def _new_commit(
    repo_pk: str,
    parent: str | None,
    files: dict[str, Any],
    title: str,
    message: str,
    author: str,
    card: dict[str, Any] | None = None,
) -> HubCommit:
    created = utcnow()
    oid = hashlib.sha1(
        json.dumps(
            {
                "parent": parent,
                "tree": {p: e["oid"] for p, e in sorted(files.items())},
                "title": title,
                "message": message,
                "author": author,
                "date": created.isoformat(),
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()
    return HubCommit(
        oid=oid,
        repo_pk=repo_pk,
        parent_oid=parent,
        title=title,
        message=message,
        author=author,
        files=files,
        card_data=card,
        created_at=created,
    )
