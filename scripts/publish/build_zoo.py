"""Build the tshub model zoo: one resumable command trains every manifest entry that is missing or whose recipe
changed, writes its checkpoint folder and card into the store, updates the store's index.json and model_cards/,
and uploads to the Hugging Face Hub only when asked.

    python scripts/publish/build_zoo.py                          # build what is missing or stale
    python scripts/publish/build_zoo.py --only 'SP500/*' --force # rebuild some entries
    python scripts/publish/build_zoo.py --dry-run                # the plan: what is up to date, what would build
    python scripts/publish/build_zoo.py --push --dry-run         # what would be uploaded (repo ids, files, sizes)
    python scripts/publish/build_zoo.py --push                   # build what is missing or stale, then upload
                                                                 # ($HF_ENDPOINT: huggingface.co or a `tshub serve`)
    python scripts/publish/build_zoo.py & python scripts/publish/build_zoo.py  # two processes share the build
    python scripts/publish/build_zoo.py --park                   # carry unfinished trainings to another machine

An entry is skipped when its folder holds a checkpoint built with the same recipe hash (see zoo_manifest), so an
interrupted build resumes where it stopped and a finished one rewrites nothing. Each checkpoint is built in
``<zoo>/.building/<entry>/`` and moved into place only when complete. A process builds an entry only while it holds
the entry's lock (an flock, released by the kernel when a build is killed), so several processes running the same
command share a build, each taking the next entry nobody holds (run one per core, with ``--threads 1``). Every
entry trains until its recipe stops it, never by wall clock; its full training state is saved as it goes in
``<zoo>/.building/<entry>.<recipe hash>.state.safetensors``, so a killed build resumes each interrupted training
where it was. The index and the cards are rewritten atomically by whichever process finishes a checkpoint.

A training that outlives its machine moves through git: ``--park`` copies every unfinished training state into
``zoo-progress/`` beside the zoo (committed), and a build on another machine that has no state of its own for an
entry, or an older one, starts from the parked state (its fingerprint is checked on restore, as for any state). A
finished entry's parked state is removed by the build that finishes it. States are named by the recipe hash, so the
state of an entry's earlier recipe, still parked in git, neither replaces the current recipe's nor keeps it from
being parked.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import fnmatch
import json
import shutil
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from zoo_cards import CARDS_INDEX, add_heads_section, cards_index, sync_card, write_if_changed
from zoo_manifest import Entry, default_manifest, read_manifest
from zoo_train import build_entry

from tshub.atomic import atomic_write
from tshub.hub import CheckpointError, ModelId, hub_namespace, push_folder, read_config, write_index
from tshub.hub.card import human_size
from tshub.hub.checkpoint import CHECKPOINT_FILES, load_checkpoint
from tshub.hub.remote import PushRefused, hub_endpoint, refuse_push_that_cannot_be_made
from tshub.hub.store import INDEX_NAME, PRIMARY_METRIC, Store

REPO = Path(__file__).resolve().parents[2]
BUILDING = ".building"
PARKED = "zoo-progress"  # beside the zoo it belongs to
ZOO_SIZE_LIMIT = 150_000_000  # bytes: the zoo is committed to the repository
INDEX_EXTRAS = ("elapsed_s", "epochs", "best_epoch", "stop_reason")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    entries = select(load_manifest(args.manifest), args.only)
    if not entries:
        print(f"no manifest entry matches {args.only}", file=sys.stderr)
        return 2
    zoo, cards = args.zoo.resolve(), args.cards.resolve()
    parked = (args.parked or zoo.parent / PARKED).resolve()
    if args.dry_run:
        show_plan(entries, zoo, parked, args.force)
        if args.push:
            show_uploads(entries, zoo, args.namespace)
        return 0
    if args.park:
        park(entries, zoo, parked)
        return 0
    if args.push:  # before hours of training, not after
        try:
            refuse_push_that_cannot_be_made()
        except PushRefused as err:
            print(f"--push: {err}", file=sys.stderr)
            return 2
    failed = build(entries, zoo, cards, parked, force=args.force, device=args.device, progress=args.progress)
    if args.push:
        failed += push(entries, zoo, args.namespace)
    return 1 if failed else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--zoo", type=Path, default=REPO / "zoo", help="the store to build into (default: zoo/)")
    parser.add_argument(
        "--cards",
        type=Path,
        default=REPO / "model_cards",
        help="where the flat card copies and their index go (default: model_cards/, generated, "
        "git-ignored: the cards' source is each checkpoint's README.md)",
    )
    parser.add_argument("--manifest", type=Path, help="JSON manifest instead of the default (derived from the data)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="PATTERN",
        help="build only ids matching this glob, case-insensitive (e.g. 'SP500/*', '*/fcn'); repeatable",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="rebuild selected entries even when up to date (in one process: each would rebuild them)",
    )
    parser.add_argument(
        "--parked",
        type=Path,
        help="the committed folder of unfinished training states carried between machines "
        f"(default: {PARKED}/ beside --zoo)",
    )
    parser.add_argument(
        "--park",
        action="store_true",
        help="copy every unfinished training state into --parked (and drop those of finished entries); train nothing",
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when available)")
    parser.add_argument("--progress", action="store_true", help="show per-epoch progress bars")
    parser.add_argument(
        "--push",
        action="store_true",
        help="after the build, upload each selected checkpoint that is up to date to the Hub",
    )
    parser.add_argument(
        "--namespace", help=f"Hub user or org of the repos (default: {hub_namespace()!r}, from $TSHUB_NAMESPACE)"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the build plan (and, with --push, the uploads); train, write and upload nothing",
    )
    args = parser.parse_args(argv)
    ignored = [
        flag for flag, given in (("--push", args.push), ("--force", args.force), ("--dry-run", args.dry_run)) if given
    ]
    if args.park and ignored:
        parser.error(f"--park trains, builds and uploads nothing: drop {' and '.join(ignored)}.")
    return args


def load_manifest(path: Path | None) -> list[Entry]:
    return read_manifest(path) if path else default_manifest()


def select(entries: list[Entry], patterns: list[str] | None) -> list[Entry]:
    if not patterns:
        return entries
    return [e for e in entries if any(fnmatch.fnmatch(e.id.casefold(), p.casefold()) for p in patterns)]


def state(entry: Entry, zoo: Path) -> str:
    """ "up to date", "missing", "stale" (built with another recipe) or "unreadable"."""
    folder = zoo / entry.source / entry.arch
    if not (folder / "config.json").is_file():
        return "missing"
    try:
        config = read_config(folder)
    except CheckpointError:
        return "unreadable"
    built = (config.get("meta") or {}).get("build") or {}
    return "up to date" if built.get("recipe_hash") == entry.recipe_hash() else "stale"


# ---------------------------------------------------------------------------------------------------- build
def build(
    entries: list[Entry], zoo: Path, cards: Path, parked: Path, *, force: bool, device: str | None, progress: bool
) -> int:
    """Build every selected entry that needs it and no other process is building; returns the number of failures."""
    failed, start = 0, time.perf_counter()
    for i, entry in enumerate(entries, 1):
        with claimed(entry, zoo / BUILDING) as work:
            if work is None:
                print(f"[{i}/{len(entries)}] {entry.id}: another process is building it, skipped", flush=True)
                continue
            status = state(entry, zoo)  # read under the lock: another process may just have finished it
            saved = state_file(entry, zoo / BUILDING)
            if status == "up to date" and _ended(saved):  # a kill once its checkpoint was in place left it
                saved.unlink()  # (a forced rebuild would take it up and train nothing)
            if status == "up to date" and not force:
                print(f"[{i}/{len(entries)}] {entry.id}: up to date, skipped", flush=True)
                continue
            resuming = " (resuming its saved state)" if saved.is_file() else ""
            if unpark(entry, zoo / BUILDING, parked):
                resuming = f" (resuming the state parked in {parked} after {epochs_done(saved)} epochs)"
            print(f"[{i}/{len(entries)}] {entry.id}: {status}, building{resuming}", flush=True)
            t0 = time.perf_counter()
            try:
                folder = build_one(entry, zoo, work, device=device, progress=progress)
            except Exception:  # one broken entry must not stop a multi-hour build; reported, retried next run
                failed += 1
                print(f"[{i}/{len(entries)}] {entry.id}: FAILED\n{traceback.format_exc()}", flush=True)
                continue
            publish_local(zoo, cards, [(entry.source, entry.arch, folder)])
            state_file(entry, parked).unlink(missing_ok=True)
            print(
                f"[{i}/{len(entries)}] {entry.id}: done in {time.perf_counter() - t0:.0f} s — {describe(folder)}",
                flush=True,
            )
    publish_local(zoo, cards, [])
    size = sum(p.stat().st_size for p in zoo.rglob("*") if p.is_file() and BUILDING not in p.parts)
    print(
        f"finished {len(entries)} entries in {time.perf_counter() - start:.0f} s, {failed} failed; "
        f"{zoo} holds {human_size(size)}",
        flush=True,
    )
    if size > ZOO_SIZE_LIMIT:
        print(
            f"WARNING: {zoo} exceeds {human_size(ZOO_SIZE_LIMIT)}, the limit of the committed zoo: store more "
            "entries in float16 or publish the large ones on the Hub only.",
            flush=True,
        )
    return failed


@contextlib.contextmanager
def claimed(entry: Entry, building: Path) -> Iterator[Path | None]:
    """The entry's empty work folder while this process holds the entry's lock, None when another process does.

    The lock is an flock on ``<building>/<entry>.lock``: the kernel releases it when its process dies, so a killed
    build never leaves a claim behind, and the work folder it left is cleared by the next holder.
    """
    building.mkdir(parents=True, exist_ok=True)
    name = entry_name(entry)
    with open(building / f"{name}.lock", "a") as lock:  # "a": taking a lock never rewrites the file
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        work = building / name
        shutil.rmtree(work, ignore_errors=True)
        try:
            yield work
        finally:
            shutil.rmtree(work, ignore_errors=True)


def entry_name(entry: Entry) -> str:
    return f"{entry.source}__{entry.arch}"


def state_file(entry: Entry, building: Path) -> Path:
    """Where the entry's training state under its current recipe lives between runs (kept when the work folder is
    cleared). The recipe hash in the name keeps apart the states of the entry's other recipes: one further along
    would win ``unpark``'s and ``park``'s epoch comparisons, then be refused by its fingerprint on restore."""
    return building / f"{entry_name(entry)}.{entry.recipe_hash()}.state.safetensors"


def epochs_done(path: Path) -> int:
    """Completed epochs of the training state at ``path``; -1 when there is none or it cannot be read."""
    try:
        return int(_state_meta(path)["epoch"])
    except Exception:  # absent, damaged or foreign: any readable state is further along
        return -1


def _ended(path: Path) -> bool:
    """Whether the training state at ``path`` is one of a training that ended (kept until its checkpoint is in
    place: ``build_one``)."""
    try:
        return _state_meta(path).get("stop_reason") is not None
    except Exception:  # absent, damaged or foreign
        return False


def _state_meta(path: Path) -> dict[str, Any]:
    with safe_open(path, "pt") as f:
        return dict(json.loads(f.metadata()["state"]))


def unpark(entry: Entry, building: Path, parked: Path) -> bool:
    """Start from the entry's parked state when it is further along than the local one (another machine's work)
    and of the same training, or when there is no local one to resume; True when it was taken. A training's
    fingerprint covers what the recipe hash does not (the precision a CPU trains in), so a parked state of another
    one would be refused on restore, the local epochs lost."""
    carried, local = state_file(entry, parked), state_file(entry, building)
    if epochs_done(carried) <= epochs_done(local):
        return False
    if epochs_done(local) >= 0 and _state_meta(local).get("fingerprint") != _state_meta(carried).get("fingerprint"):
        return False
    atomic_write(state_file(entry, building), lambda tmp: shutil.copyfile(carried, tmp))
    return True


def park(entries: list[Entry], zoo: Path, parked: Path) -> None:
    """Copy each selected entry's unfinished training state into ``parked``; drop the parked states of entries that
    are up to date. A state is copied whole (it is replaced atomically while training), so parking a running build
    is safe; it then carries the work up to the state's last save."""
    for entry in entries:
        local, carried = state_file(entry, zoo / BUILDING), state_file(entry, parked)
        if state(entry, zoo) == "up to date":
            if carried.is_file():
                carried.unlink()
                print(f"{entry.id}: finished, parked state removed", flush=True)
        elif epochs_done(local) > epochs_done(carried):
            atomic_write(carried, lambda tmp, src=local: shutil.copyfile(src, tmp))
            print(
                f"{entry.id}: parked after {epochs_done(carried)} epochs ({human_size(carried.stat().st_size)})",
                flush=True,
            )


def build_one(entry: Entry, zoo: Path, work: Path, *, device: str | None, progress: bool) -> Path:
    """Train (resuming a saved state), save into ``work``, verify by loading, then move into ``<zoo>/<SOURCE>/<arch>``;
    the training's state is removed only then."""
    saved_state = state_file(entry, work.parent)
    built = build_entry(entry, device=device, progress=progress, state_path=saved_state)
    tmp = work / "checkpoint"
    built.model.save_pretrained(tmp, dtype=entry.dtype, **built.fields)
    if built.head_rows:
        add_heads_section(tmp, built.head_rows)
    load_checkpoint(tmp)  # format, hash and strict keys, before it replaces anything
    final = zoo / entry.source / entry.arch
    final.parent.mkdir(parents=True, exist_ok=True)
    old = work / "replaced"
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    saved_state.unlink(missing_ok=True)
    return final


def describe(folder: Path) -> str:
    config = read_config(folder)
    meta = config.get("meta") or {}
    metric = PRIMARY_METRIC.get(config.get("task") or "")
    stored = (config.get("metrics") or {}).get(metric)
    float32 = (meta.get("float32_metrics") or {}).get(metric)
    return (
        f"test {metric} {stored} as stored in {config['dtype']} (float32 {float32}), "
        f"{meta.get('epochs')} epochs, stop {meta.get('stop_reason')}, {human_size(config['size_bytes'])}"
    )


def publish_local(zoo: Path, cards: Path, changed: list[tuple[str, str, Path]]) -> None:
    """Refresh the store index and model_cards/ (card copies, index table) when they differ from the zoo."""
    checkpoints = [(model_id.source, model_id.arch, folder) for model_id, folder in Store(zoo, "zoo").checkpoints()]
    for source, arch, folder in checkpoints:
        sync_card(folder, cards, source, arch)
    if checkpoints:
        write_if_changed(cards / CARDS_INDEX, cards_index(checkpoints))
    if changed or not index_in_sync(zoo, checkpoints):
        write_index(zoo)
        enrich_index(zoo)


def index_in_sync(zoo: Path, checkpoints: list[tuple[str, str, Path]]) -> bool:
    path = zoo / INDEX_NAME
    if not path.is_file():
        return not checkpoints
    listed = {(row["id"], row.get("weights_sha256")) for row in json.loads(path.read_text())["models"]}
    return listed == {(f"{s}/{a}", read_config(f)["weights_sha256"]) for s, a, f in checkpoints}


def enrich_index(zoo: Path) -> None:
    """Add to write_index's rows what the zoo index promises: all test metrics, reference, budget, hashes."""
    path = zoo / INDEX_NAME
    index = json.loads(path.read_text())
    for row in index["models"]:
        config = read_config(zoo / row["source"] / row["arch"])
        meta = config.get("meta") or {}
        row.update(
            {
                "metrics": config.get("metrics"),
                "reference_metrics": (config.get("reference") or {}).get("metrics"),
                **{k: meta.get(k) for k in INDEX_EXTRAS},
                "weights_sha256": config["weights_sha256"],
                "recipe_hash": (meta.get("build") or {}).get("recipe_hash"),
            }
        )
    write_if_changed(path, json.dumps(index, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------------- push
def uploads(entries: list[Entry], zoo: Path, namespace: str | None) -> list[tuple[Entry, Path, str]]:
    """``(entry, folder, repo_id)`` of every selected checkpoint that is built and up to date."""
    found = []
    for entry in entries:
        if state(entry, zoo) != "up to date":
            print(f"{entry.id}: not uploaded, checkpoint {state(entry, zoo)} (build it first)", flush=True)
            continue
        found.append((entry, *upload_target(entry, zoo, namespace)))
    return found


def upload_target(entry: Entry, zoo: Path, namespace: str | None) -> tuple[Path, str]:
    """The entry's checkpoint folder and the Hub repo it goes to."""
    return zoo / entry.source / entry.arch, ModelId(entry.source, entry.arch).repo_id(namespace)


def show_plan(entries: list[Entry], zoo: Path, parked: Path, force: bool) -> None:
    for entry in entries:
        status = state(entry, zoo)
        action = "skip" if status == "up to date" and not force else "build"
        saved = max(epochs_done(state_file(entry, zoo / BUILDING)), epochs_done(state_file(entry, parked)))
        resume = f" (saved state: {saved} epochs)" if saved >= 0 else ""
        print(
            f"{action:5} {entry.id:45} {status:10} recipe {entry.recipe_hash()} bf16 {entry.bf16} "
            f"dtype {entry.dtype}{resume}",
            flush=True,
        )


def show_uploads(entries: list[Entry], zoo: Path, namespace: str | None) -> None:
    """What ``--push`` would upload: every selected checkpoint, those it builds first said so."""
    for entry in entries:
        folder, repo_id = upload_target(entry, zoo, namespace)
        if (status := state(entry, zoo)) != "up to date":
            print(f"would build {entry.id} ({status}), then upload it -> {hub_endpoint()}/{repo_id}", flush=True)
            continue
        files = ", ".join(
            f"{name} ({human_size((folder / name).stat().st_size)})"
            for name in CHECKPOINT_FILES
            if (folder / name).is_file()
        )
        print(f"would upload {folder} -> {hub_endpoint()}/{repo_id}: {files}", flush=True)


def push(entries: list[Entry], zoo: Path, namespace: str | None) -> int:
    failed = 0
    for entry, folder, repo_id in uploads(entries, zoo, namespace):
        recipe = (read_config(folder).get("meta") or {}).get("build", {}).get("recipe_hash")
        try:
            url = push_folder(folder, repo_id, commit_message=f"tshub zoo: {entry.id} (recipe {recipe})")
        except PushRefused as err:  # offline or no token: no other entry would go either
            print(f"{entry.id}: upload to {repo_id} FAILED: {err}", flush=True)
            return failed + 1
        except Exception as err:  # report every failed upload, keep pushing the others
            failed += 1
            print(f"{entry.id}: upload to {repo_id} FAILED: {err}", flush=True)
            continue
        print(f"{entry.id}: uploaded to {repo_id} ({url})", flush=True)
    return failed


if __name__ == "__main__":
    sys.exit(main())
